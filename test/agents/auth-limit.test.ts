// A real agent limits failed authentication: after 10 failures in a minute from one source (a
// credential, or an address sending none), 429 with Retry-After; other credentials and the
// right token still get through.
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { startAgent, type AgentHandle } from '../../localenv/agents.js';
import { createCertAuthority } from '../../localenv/tls.js';

let dir: string;
let agent: AgentHandle;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-agents-authlimit-'));
  agent = await startAgent({
    dir,
    name: 'limit',
    ca: await createCertAuthority(path.join(dir, 'ca'), 'ferry-limit'),
  });
});
afterAll(async () => {
  await agent?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function get(url: string, authorization?: string) {
  return new Promise<{ status: number; retryAfter?: string; body: string }>((resolve, reject) => {
    const req = https.request(
      url,
      { ca: agent.caCertPem, headers: authorization ? { authorization } : {} },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string, body }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

it('answers 429 with Retry-After after 10 failures of one token, on both ports, and only to that source', async () => {
  for (let i = 0; i < 10; i++)
    expect((await get(`${agent.url}/v1/info`, 'Bearer stale-token')).status).toBe(401);
  for (const base of [agent.url, agent.dataUrl]) {
    const r = await get(`${base}/v1/info`, 'Bearer stale-token');
    expect(r.status).toBe(429);
    expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(r.retryAfter)).toBeLessThanOrEqual(60);
    expect(JSON.parse(r.body)).toEqual({
      error: {
        code: 'too_many_auth_failures',
        message: `too many failed authentications from this source; retry after ${r.retryAfter} s`,
        retryable: true,
      },
    });
  }
  expect((await get(`${agent.url}/v1/info`, 'Bearer another-wrong')).status).toBe(401);
  expect((await get(`${agent.url}/v1/info`, `Bearer ${agent.token}`)).status).toBe(200);
  expect((await get(`${agent.url}/healthz`)).status).toBe(200);
});

it('counts requests without a token by address, and reports both in metrics', async () => {
  for (let i = 0; i < 10; i++) expect((await get(`${agent.url}/v1/info`)).status).toBe(401);
  expect((await get(`${agent.url}/v1/info`)).status).toBe(429);
  expect((await get(`${agent.url}/v1/info`, `Bearer ${agent.token}`)).status).toBe(200);
  const metrics = (await get(`${agent.url}/metrics`, `Bearer ${agent.token}`)).body;
  expect(metrics).toMatch(/^ferry_agent_auth_failures_total 21$/m);
  expect(metrics).toMatch(/^ferry_agent_auth_throttled_total 3$/m);
});
