// A destination agent started with --data-plaintext: its data port speaks plain HTTP and takes
// only the derived data-port token, the control port stays TLS with the agent's token, and a
// replication through a relay that records the source's bytes shows the file's bytes in clear
// there (and, for the TLS control case beside it, nowhere).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { AgentClient } from '../../datapath/client/client.js';
import type { ReplicationStatus } from '../../datapath/protocol/agent-api.js';
import { dataPortToken } from '../../datapath/protocol/wire.js';
import { startAgentPair, type AgentPair } from './pair.js';
import { describeTree, prng, sleep } from './trees.js';

let plain: AgentPair;
let tls: AgentPair;

beforeAll(async () => {
  [plain, tls] = await Promise.all([
    startAgentPair('plain', { dstArgs: ['--data-plaintext'] }),
    startAgentPair('tls'),
  ]);
});

afterAll(async () => {
  await Promise.all([plain?.stop(), tls?.stop()]);
});

/** A TCP relay to `port` that keeps every byte the client sent. */
async function recordingRelay(port: number): Promise<{ port: number; sent(): Buffer; close(): void }> {
  const parts: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ port, host: '127.0.0.1' });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (d: Buffer) => parts.push(Buffer.from(d)));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    sent: () => Buffer.concat(parts),
    close: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

async function rawStatus(url: string, authorization: string, body = Buffer.alloc(32)): Promise<number> {
  const mod = url.startsWith('https:') ? await import('node:https') : await import('node:http');
  return new Promise((resolve, reject) => {
    const req = mod.request(
      url,
      { method: 'POST', headers: { authorization }, rejectUnauthorized: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Replicates a fresh volume of incompressible data through a recording relay on the data port. */
async function replicateRecorded(
  p: AgentPair,
  volume: string,
  scheme: 'http' | 'https',
): Promise<{ status: ReplicationStatus | null; error: string; file: Buffer; sent: Buffer; vol: string }> {
  const vol = (await p.sc.createVolume(volume)).path;
  const file = prng(3 << 20, volume);
  fs.writeFileSync(path.join(vol, 'data.bin'), file);
  fs.writeFileSync(path.join(vol, 'small.txt'), 'a small file\n');
  await sleep(150);
  const relay = await recordingRelay(p.dst.dataPort);
  try {
    const done = await p.sc
      .replicate(
        {
          volume,
          destination: { ...p.destination(), dataUrl: `${scheme}://127.0.0.1:${relay.port}` },
          mode: 'DisasterRecovery',
        },
        { pollMs: 50 },
      )
      .then(
        (status) => ({ status, error: '' }),
        (e: unknown) => ({ status: null, error: e instanceof Error ? e.message : String(e) }),
      );
    return { ...done, file, sent: relay.sent(), vol };
  } finally {
    relay.close();
  }
}

type Recorded = Awaited<ReturnType<typeof replicateRecorded>>;

/** That `r` succeeded, the standby of `volume` equals the source, and the relay carried the file. */
function expectArrived(p: AgentPair, volume: string, r: Recorded): void {
  expect([r.status?.phase, r.error]).toEqual(['succeeded', '']);
  expect(describeTree(p.dst.standbyPath(volume))).toEqual(describeTree(r.vol));
  expect(r.sent.length).toBeGreaterThan(r.file.length);
}

/** How many of 20 windows of 64 bytes spread over `file` occur in `haystack`. */
function windowsFound(file: Buffer, haystack: Buffer): number {
  let found = 0;
  for (let i = 0; i < 20; i++) {
    const at = Math.floor(((i + 0.5) * (file.length - 64)) / 20);
    if (haystack.includes(file.subarray(at, at + 64))) found++;
  }
  return found;
}

describe('a plaintext data port (--data-plaintext)', () => {
  it('is advertised: info says http, the handle and the ready line give an http data URL', async () => {
    expect((await plain.dc.info()).dataScheme).toBe('http');
    expect(plain.dst.dataUrl).toBe(`http://127.0.0.1:${plain.dst.dataPort}`);
    expect((await tls.dc.info()).dataScheme).toBe('https');
    expect(tls.dst.dataUrl.startsWith('https://')).toBe(true);
  });

  it('still serves TLS on the same port with the agent token, so older sources keep working', async () => {
    const tlsUrl = `https://127.0.0.1:${plain.dst.dataPort}/v1/chunks/have`;
    expect(await rawStatus(tlsUrl, `Bearer ${plain.dst.token}`)).toBe(200);
    expect(await rawStatus(tlsUrl, `Bearer ${dataPortToken(plain.dst.token)}`)).toBe(401);
    // a source that speaks TLS to it (an https dataUrl, as an agent before the flag would)
    const r = await replicateRecorded(plain, 'sealed-to-plain', 'https');
    expectArrived(plain, 'sealed-to-plain', r);
    expect(windowsFound(r.file, r.sent)).toBe(0);
  });

  it('takes only the derived token, and the control port never takes the derived one', async () => {
    const have = `${plain.dst.dataUrl}/v1/chunks/have`;
    expect(await rawStatus(have, `Bearer ${dataPortToken(plain.dst.token)}`)).toBe(200);
    expect(await rawStatus(have, `Bearer ${plain.dst.token}`)).toBe(401);
    const control = `${plain.dst.url}/v1/standby/x/commit`;
    expect(await rawStatus(control, `Bearer ${dataPortToken(plain.dst.token)}`)).toBe(401);
    // and a TLS data port keeps the agent's token
    expect(await rawStatus(`${tls.dst.dataUrl}/v1/chunks/have`, `Bearer ${tls.dst.token}`)).toBe(200);
    expect(dataPortToken('a')).not.toBe(dataPortToken('b'));
    expect(dataPortToken('a')).toBe(dataPortToken('a'));
  });

  it('replicates byte for byte, with the bytes in clear on the wire and no control token there', async () => {
    const r = await replicateRecorded(plain, 'clear', 'http');
    expectArrived(plain, 'clear', r);
    expect(windowsFound(r.file, r.sent)).toBeGreaterThanOrEqual(18);
    expect(r.sent.includes(Buffer.from(plain.dst.token))).toBe(false);
    expect(r.sent.includes(Buffer.from(dataPortToken(plain.dst.token)))).toBe(true);
  });

  it('finds the plaintext port from info alone (no data URL given)', async () => {
    const vol = (await plain.sc.createVolume('found')).path;
    fs.writeFileSync(path.join(vol, 'f.bin'), prng(1 << 20, 'found'));
    await sleep(150);
    const s = await plain.sc.replicate(
      { volume: 'found', destination: plain.destination(), mode: 'DisasterRecovery' },
      { pollMs: 50 },
    );
    expect(s.phase).toBe('succeeded');
    expect(describeTree(plain.dst.standbyPath('found'))).toEqual(describeTree(vol));
  });

  it('the same replication to a TLS data port shows none of the bytes (the control case)', async () => {
    const r = await replicateRecorded(tls, 'sealed', 'https');
    expectArrived(tls, 'sealed', r);
    expect(windowsFound(r.file, r.sent)).toBe(0);
  });

  it('an http data URL for a TLS data port is refused before a byte is sent, naming the URL', async () => {
    const client = new AgentClient({ ...tls.dst.endpoint, dataUrl: `http://127.0.0.1:${tls.dst.dataPort}` });
    try {
      const err = (await client.hasChunks([Buffer.alloc(32)]).then(
        () => null,
        (e: unknown) => e,
      )) as { code?: string; message?: string } | null;
      expect(err?.code).toBe('bad_data_url');
      expect(err?.message).toContain(`"http://127.0.0.1:${tls.dst.dataPort}"`);
      expect(err?.message).toContain('--data-plaintext');
    } finally {
      client.close();
    }
    const r = await replicateRecorded(tls, 'refused', 'http');
    expect(r.status).toBeNull();
    expect(r.error).toMatch(/failed: destination: dataUrl "http:\/\/127\.0\.0\.1:\d+": .*--data-plaintext/);
    expect(r.sent.length).toBe(0);
  });
});
