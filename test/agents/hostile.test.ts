// Hostile input is refused with a clear error: bad manifests, lying chunks, oversize data, and
// missing or wrong tokens (401 with a fixed body that reveals nothing).
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { AgentApiError, AgentClient } from '../../datapath/client/client.js';
import type { Manifest } from '../../datapath/protocol/manifest.js';
import { encodeDelta } from '../../datapath/protocol/delta.js';
import { frameHeader } from '../../datapath/protocol/wire.js';
import { startAgent, type AgentHandle } from '../../localenv/agents.js';
import { createCertAuthority } from '../../localenv/tls.js';
import { prng } from './trees.js';

let dir: string;
let agent: AgentHandle;
let client: AgentClient;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-agents-hostile-'));
  const ca = await createCertAuthority(path.join(dir, 'ca'), 'ferry-test-ca');
  agent = await startAgent({
    dir,
    name: 'dst',
    ca,
    args: ['--max-file-size', '1000000', '--max-batch-bytes', String(2 << 20)],
  });
  client = agent.client();
});

afterAll(async () => {
  client?.close();
  await agent?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function manifest(entries: unknown[]): Manifest {
  return {
    version: 1,
    id: `evil-${crypto.randomBytes(3).toString('hex')}`,
    volume: 'victim',
    parent: null,
    full: false,
    createdAt: new Date().toISOString(),
    hash: 'sha256',
    chunker: { min: 16384, avg: 65536, max: 262144 },
    rootMode: 0o755,
    entries: entries as Manifest['entries'],
  };
}

async function refusal(p: Promise<unknown>): Promise<AgentApiError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AgentApiError) return err;
    throw err;
  }
  throw new Error('hostile input was accepted');
}

async function raw(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: Buffer },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      { method: opts.method ?? 'GET', ca: agent.caCertPem, headers: opts.headers ?? {} },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const UNAUTHORIZED = '{"error":{"code":"unauthorized","message":"unauthorized","retryable":false}}';

describe('authentication', () => {
  it.each([
    ['no token', undefined],
    ['a wrong token', 'Bearer wrong-token'],
    ['a token prefix', 'Bearer TOKEN_PREFIX'],
    ['another scheme', 'Basic dXNlcjpwYXNz'],
  ])('refuses %s with 401 and a fixed body, on both ports and every route', async (_name, authorization) => {
    const auth = authorization?.replace('TOKEN_PREFIX', agent.token.slice(0, 10));
    for (const [base, route, method] of [
      [agent.url, '/v1/info', 'GET'],
      [agent.url, '/metrics', 'GET'],
      [agent.url, '/v1/standby/victim/commit', 'POST'],
      [agent.url, '/no/such/route', 'GET'],
      [agent.dataUrl, '/v1/chunks', 'POST'],
      [agent.dataUrl, '/v1/chunks/have', 'POST'],
    ] as const) {
      const r = await raw(`${base}${route}`, {
        method,
        headers: auth ? { authorization: auth } : {},
        ...(method === 'POST' ? { body: Buffer.alloc(64 * 1024) } : {}),
      });
      expect([route, r.status]).toEqual([route, 401]);
      expect(r.body).toBe(UNAUTHORIZED);
    }
  });

  it('serves /healthz without a token and everything else with the right one', async () => {
    expect((await raw(`${agent.url}/healthz`, {})).status).toBe(200);
    expect((await raw(`${agent.dataUrl}/healthz`, {})).status).toBe(200);
    expect(
      (await raw(`${agent.url}/v1/info`, { headers: { authorization: `Bearer ${agent.token}` } })).status,
    ).toBe(200);
  });

  it('the typed client surfaces a wrong token as a 401 AgentApiError', async () => {
    const bad = new AgentClient({ url: agent.url, token: 'nope', caCertPem: agent.caCertPem });
    const err = await refusal(bad.info());
    expect(err.status).toBe(401);
    expect(err.code).toBe('unauthorized');
    bad.close();
  });
});

describe('hostile manifests', () => {
  const H = 'a'.repeat(64);
  it.each([
    [
      'a path with ..',
      [{ path: '../../etc/cron.d/x', type: 'file', mode: 0o644, size: 0, mtimeMs: 0, chunks: [] }],
      /"\.\.\/\.\.\/etc\/cron\.d\/x": contains a '\.\.' segment/,
    ],
    [
      'an absolute path',
      [{ path: '/etc/passwd', type: 'file', mode: 0o644, size: 0, mtimeMs: 0, chunks: [] }],
      /"\/etc\/passwd": is absolute/,
    ],
    [
      'a device file',
      [{ path: 'sda', type: 'blockdev', mode: 0o660 }],
      /type "blockdev".*device files, FIFOs and sockets are refused/,
    ],
    [
      'an escaping symlink',
      [{ path: 'l', type: 'symlink', target: '../../../../etc' }],
      /symlink "l" -> "..\/..\/..\/..\/etc": target escapes the volume/,
    ],
    ['an absolute symlink', [{ path: 'l', type: 'symlink', target: '/etc' }], /target is absolute/],
    [
      'a write through a symlink',
      [
        { path: 'l', type: 'symlink', target: 'd' },
        { path: 'l/x', type: 'file', mode: 0o644, size: 0, mtimeMs: 0, chunks: [] },
      ],
      /parent "l" is not a directory/,
    ],
  ])('refuses %s with 400 and writes nothing', async (_name, entries, message) => {
    const err = await refusal(client.commitStandby('victim', manifest(entries)));
    expect(err.status).toBe(400);
    expect(err.code).toBe('invalid_manifest');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(message);
    expect(fs.existsSync(path.join(agent.dataRoot, 'standby', 'victim'))).toBe(false);
  });

  it('refuses a file larger than --max-file-size with 413', async () => {
    const err = await refusal(
      client.commitStandby(
        'victim',
        manifest([
          { path: 'f', type: 'file', mode: 0o644, size: 2_000_000, mtimeMs: 0, chunks: [[H, 2_000_000]] },
        ]),
      ),
    );
    expect(err.status).toBe(413);
    expect(err.message).toMatch(/size 2000000: exceeds the limit of 1000000 bytes/);
  });

  it('refuses a manifest whose chunks were never sent with 409 missing_chunks', async () => {
    const err = await refusal(
      client.commitStandby(
        'victim',
        manifest([{ path: 'f', type: 'file', mode: 0o644, size: 10, mtimeMs: 0, chunks: [[H, 10]] }]),
      ),
    );
    expect(err.status).toBe(409);
    expect(err.code).toBe('missing_chunks');
    expect(err.details?.missing).toEqual([H]);
  });

  it('refuses a manifest delta against a base it does not hold (409 unknown_base) or running past its base (400)', async () => {
    const m = manifest([{ path: 'x', type: 'dir', mode: 0o755 }]);
    const { entries: _e, ...header } = m;
    const err = await refusal(client.commitStandby('victim', { ...header, base: 'no-such-rp', ops: [1] }));
    expect(err.status).toBe(409);
    expect(err.code).toBe('unknown_base');
    // give the volume a restore point to be the base, then run past it / smuggle '..'
    const first = await client.commitStandby('victim', m);
    const base = first.result.restorePoint.id;
    const past = await refusal(
      client.commitStandby('victim', { ...header, id: 'evil-next', base, ops: [2] }),
    );
    expect(past.status).toBe(400);
    expect(past.message).toMatch(/runs past the 1 entries of base/);
    const dots = await refusal(
      client.commitStandby('victim', {
        ...header,
        id: 'evil-next',
        base,
        ops: [1, { e: { path: 'x/../../etc', type: 'dir', mode: 0o755 } }],
      } as never),
    );
    expect(dots.status).toBe(400);
    expect(dots.message).toMatch(/'\.\.' segment/);
  });

  it('refuses a body that is not JSON', async () => {
    const r = await raw(`${agent.url}/v1/standby/victim/commit`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agent.token}` },
      body: Buffer.from('{nope'),
    });
    expect(r.status).toBe(400);
    expect(r.body).toMatch(/not valid JSON/);
  });
});

describe('hostile chunks', () => {
  async function upload(frames: Buffer[]): Promise<unknown> {
    const up = await client.openChunkUpload({ hash: 'sha256' });
    for (const f of frames) await up.write(f);
    return up.finish();
  }

  it('stores a correct chunk and refuses one whose content does not match its hash (422)', async () => {
    const good = prng(50_000, 'good');
    const goodHash = crypto.createHash('sha256').update(good).digest();
    const stored = Buffer.concat([Buffer.from([0]), good]);
    await expect(upload([frameHeader(goodHash, good.length, stored.length), stored])).resolves.toMatchObject({
      received: 1,
      stored: 1,
    });

    const claimed = crypto.createHash('sha256').update('something else').digest();
    const err = await refusal(upload([frameHeader(claimed, good.length, stored.length), stored]));
    expect(err.status).toBe(422);
    expect(err.code).toBe('hash_mismatch');
    expect(err.message).toContain(
      `chunk ${claimed.toString('hex')}: content hashes to ${goodHash.toString('hex')} (sha256); chunk refused`,
    );
    expect(await client.hasChunks([claimed, goodHash])).toEqual([false, true]);
  });

  it('refuses a chunk larger than the chunk limit (413)', async () => {
    const big = prng(256 * 1024 + 1, 'big');
    const h = crypto.createHash('sha256').update(big).digest();
    const stored = Buffer.concat([Buffer.from([0]), big]);
    const err = await refusal(upload([frameHeader(h, big.length, stored.length), stored]));
    expect(err.status).toBe(413);
    expect(err.message).toMatch(/raw length 262145 exceeds the chunk limit of 262144 bytes/);
    expect(await client.hasChunks([h])).toEqual([false]);
  });

  it('refuses a compressed chunk that inflates beyond its declared size (413)', async () => {
    const zeros = Buffer.alloc(200_000);
    const packed = zlib.brotliCompressSync(zeros);
    const stored = Buffer.concat([Buffer.from([1]), packed]);
    const h = crypto.createHash('sha256').update(zeros.subarray(0, 1000)).digest();
    const err = await refusal(upload([frameHeader(h, 1000, stored.length), stored]));
    expect(err.status).toBe(413);
    expect(err.message).toMatch(/inflates beyond/);
  });

  it('refuses an upload larger than --max-batch-bytes (413)', async () => {
    const frames: Buffer[] = [];
    for (let i = 0; i < 12; i++) {
      const d = prng(200_000, `batch-${i}`);
      const s = Buffer.concat([Buffer.from([0]), d]);
      frames.push(frameHeader(crypto.createHash('sha256').update(d).digest(), d.length, s.length), s);
    }
    const err = await refusal(upload(frames));
    expect(err.status).toBe(413);
    expect(err.message).toMatch(/exceeds the limit of 2097152 bytes per request/);
  });

  it('rebuilds a sub-chunk delta, refuses a forged one (422) and asks for a chunk whole when it lacks the base', async () => {
    const base = prng(60_000, 'delta-base');
    const baseHash = crypto.createHash('sha256').update(base).digest();
    const baseStored = Buffer.concat([Buffer.from([0]), base]);
    await upload([frameHeader(baseHash, base.length, baseStored.length), baseStored]);
    const next = Buffer.from(base);
    prng(4096, 'delta-page').copy(next, 8192);
    const nextHash = crypto.createHash('sha256').update(next).digest();
    const d = encodeDelta(next, 0, [{ hash: baseHash.toString('hex'), offset: 0, raw: base }]) as Buffer;
    expect(d.length).toBeLessThan(4096 + 100);
    await expect(upload([frameHeader(nextHash, next.length, d.length), d])).resolves.toMatchObject({
      received: 1,
      stored: 1,
      deltas: 1,
      needWhole: [],
    });
    expect(await client.hasChunks([nextHash], { verify: true })).toEqual([true]);

    // forged: the delta rebuilds bytes that do not hash to the announced name
    const other = Buffer.from(next);
    other[9000] = (other[9000] as number) ^ 0xff;
    const otherHash = crypto.createHash('sha256').update(other).digest();
    const err = await refusal(upload([frameHeader(otherHash, other.length, d.length), d]));
    expect(err.status).toBe(422);
    expect(err.code).toBe('hash_mismatch');
    expect(await client.hasChunks([otherHash])).toEqual([false]);

    // a copy out of the base's bounds is malformed (400)
    const oob = Buffer.from(d);
    oob.writeUInt32BE(59_000, 2 + 32 + 2 + 4); // first op: COPY base 0, offset 0 → length 59000 > 8192-run
    oob.writeUInt32BE(60_000, 2 + 32 + 2);
    const err2 = await refusal(upload([frameHeader(otherHash, other.length, oob.length), oob]));
    expect(err2.status).toBe(400);
    expect(err2.message).toMatch(/malformed delta/);

    // a base this agent does not hold: nothing stored, the chunk is asked for whole
    const ghost = crypto.createHash('sha256').update('never sent').digest('hex');
    const d2 = encodeDelta(other, 0, [{ hash: ghost, offset: 0, raw: next }]) as Buffer;
    await expect(upload([frameHeader(otherHash, other.length, d2.length), d2])).resolves.toMatchObject({
      received: 0,
      needWhole: [otherHash.toString('hex')],
    });
    expect(await client.hasChunks([otherHash])).toEqual([false]);
  });

  it('refuses a truncated frame (400)', async () => {
    const d = prng(1000, 'trunc');
    const err = await refusal(
      upload([
        frameHeader(crypto.createHash('sha256').update(d).digest(), 1000, 1001),
        Buffer.from([0]),
        d.subarray(0, 500),
      ]),
    );
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/truncated/);
  });
});

describe('hostile source volumes and requests', () => {
  it('refuses to snapshot a volume with a symlink escaping it', async () => {
    const vol = (await client.createVolume('leaky')).path;
    fs.writeFileSync(path.join(vol, 'ok'), 'fine');
    fs.symlinkSync('/etc/passwd', path.join(vol, 'passwd'));
    const err = await refusal(client.createSnapshot('leaky'));
    expect(err.status).toBe(400);
    expect(err.code).toBe('unsafe_volume');
    expect(err.message).toMatch(/symlink "passwd" -> "\/etc\/passwd" is absolute/);
  });

  it.each([
    [
      'a volume name with a slash',
      { volume: '../x', destination: { url: 'https://127.0.0.1:1', token: 't' } },
      /volume "..\/x"/,
    ],
    [
      'a plain-http destination',
      { volume: 'v', destination: { url: 'http://127.0.0.1:1', token: 't' } },
      /must be https/,
    ],
    [
      'no destination token',
      { volume: 'v', destination: { url: 'https://127.0.0.1:1', token: '' } },
      /destination.token: required/,
    ],
    [
      'a silly retain',
      { volume: 'v', destination: { url: 'https://127.0.0.1:1', token: 't' }, retain: 0 },
      /retain 0/,
    ],
  ])('refuses a replication request with %s', async (_n, req, message) => {
    const err = await refusal(client.startReplication(req as never));
    expect(err.status).toBe(400);
    expect(err.message).toMatch(message);
  });
});
