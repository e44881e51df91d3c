// Fuzzing a real storage agent's HTTP API (a `ferry agent` process) with the right token:
// control routes with odd names and bodies, manifests (whole and as deltas, compressed or not),
// chunk frames and `have` queries, odd headers and query strings. Every request gets an answer
// below 500: a refusal is a 4xx whose JSON error says what is wrong, and after a refusal the
// agent's data root is exactly as before (a hash of every file, mode and link). An accepted
// request (a few mutations stay valid) moves the baseline. The agent answers /healthz after each
// target. FERRY_FUZZ_RUNS raises the number of requests per target.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import fc from 'fast-check';
import type { Manifest } from '../../datapath/protocol/manifest.js';
import { frameHeader } from '../../datapath/protocol/wire.js';
import { startAgent, type AgentHandle } from '../../localenv/agents.js';
import { createCertAuthority } from '../../localenv/tls.js';
import { fuzzParams, mutate, mutation, oddValue } from '../fuzz.js';
import { describeTree } from './trees.js';

let dir: string;
let agent: AgentHandle;
let manifest: Manifest;
let keepAlive: https.Agent;
const tally = { requests: 0, refused: 0, accepted: 0 };

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-agents-fuzz-'));
  const ca = await createCertAuthority(path.join(dir, 'ca'), 'ferry-fuzz-ca');
  agent = await startAgent({ dir, name: 'fuzz', ca, args: ['--max-batch-bytes', String(4 << 20)] });
  keepAlive = new https.Agent({ keepAlive: true, ca: agent.caCertPem, maxSockets: 1 });
  const client = agent.client();
  await client.createVolume('v1');
  fs.mkdirSync(path.join(agent.volumePath('v1'), 'd'));
  fs.writeFileSync(path.join(agent.volumePath('v1'), 'd', 'a.bin'), crypto.randomBytes(100_000));
  fs.symlinkSync('d/a.bin', path.join(agent.volumePath('v1'), 'link'));
  const snap = await client.createSnapshot('v1');
  manifest = await client.getSnapshotManifest('v1', snap.id);
  client.close();
});

afterAll(async () => {
  keepAlive?.destroy();
  await agent?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  process.stdout.write(
    `[fuzz-api] ${tally.requests} requests: ${tally.refused} refused with a 4xx, ${tally.accepted} accepted, 0 with 5xx\n`,
  );
});

interface Req {
  port: 'control' | 'data';
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
}

function send(r: Req): Promise<{ status: number; body: string }> {
  const base = r.port === 'control' ? agent.url : agent.dataUrl;
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${base}${r.path}`,
      {
        method: r.method,
        agent: keepAlive,
        headers: { authorization: `Bearer ${agent.token}`, ...r.headers },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }));
      },
    );
    req.on('error', reject);
    req.end(r.body);
  });
}

let baseline: Record<string, unknown> | undefined;
const tree = () => describeTree(agent.dataRoot);
function changes(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
}

/**
 * Sends one request; a refusal must be a clear 4xx that changed nothing on disk. For a chunk
 * upload (`lying` given): a refused batch keeps the chunks it verified before its bad frame
 * (content-addressed; gc collects them unless referenced), so there only pack files may change,
 * and never by a chunk whose content does not match its hash.
 */
async function check(r: Req, lying?: Buffer[]): Promise<void> {
  baseline ??= tree();
  // Only a lie whose hash the store lacks can show a lie stored: an honest-hash frame with a lying
  // length or encoding may name content an earlier request stored honestly.
  if (lying && lying.length > 0) lying = await absent(lying);
  const { status, body } = await send(r);
  tally.requests++;
  const what = `${r.method} ${r.path} → ${status} ${body.slice(0, 200)}`;
  if (status >= 500 || status < 200) throw new Error(`server error: ${what}`);
  if (status >= 400) {
    tally.refused++;
    const err = (JSON.parse(body) as { error?: { code?: string; message?: string } }).error;
    if (!err?.code || !err.message) throw new Error(`refusal without an error: ${what}`);
    if (lying) await new Promise((resolve) => setTimeout(resolve, 20)); // appends of kept chunks
    const now = tree();
    const changed = changes(baseline, now).filter(
      (f) => !(lying && /^chunks\/packs\/\d+\.(pack|idx)$/.test(f)),
    );
    if (changed.length > 0)
      throw new Error(`a refused request changed the data root (${changed.join(', ')}): ${what}`);
    if (lying && lying.length > 0) {
      const have = await send({
        port: 'data',
        method: 'POST',
        path: '/v1/chunks/have',
        body: Buffer.concat(lying),
      });
      if (have.status !== 200 || Buffer.from(have.body, 'latin1').some((x) => x !== 0))
        throw new Error(`a lying chunk was stored: ${what}`);
    }
    baseline = now;
  } else {
    tally.accepted++;
    baseline = tree();
  }
}

/** The hashes of `hashes` that the destination's chunk store does not hold. */
async function absent(hashes: Buffer[]): Promise<Buffer[]> {
  const have = await send({
    port: 'data',
    method: 'POST',
    path: '/v1/chunks/have',
    body: Buffer.concat(hashes),
  });
  if (have.status !== 200) throw new Error(`have query: ${have.status} ${have.body.slice(0, 200)}`);
  const held = Buffer.from(have.body, 'latin1');
  return hashes.filter((_, i) => held[i] === 0);
}

async function healthy(): Promise<void> {
  const r = await send({ port: 'control', method: 'GET', path: '/healthz' });
  expect(r.status).toBe(200);
}

const name = fc.oneof(
  fc.constantFrom(
    'v1',
    'nope',
    '..',
    '.',
    '%2e%2e',
    '..%2f..%2fetc',
    'a%00b',
    '%ZZ',
    '.replaced',
    'x'.repeat(300),
  ),
  fc.stringMatching(/^[A-Za-z0-9%._-]{1,20}$/),
);

it('control routes: odd names, bodies and query strings', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(
        ['GET', '/v1/volumes/:v'],
        ['PUT', '/v1/volumes/:v'],
        ['POST', '/v1/volumes/:v/snapshots'],
        ['GET', '/v1/volumes/:v/snapshots/:id'],
        ['GET', '/v1/volumes/:v/snapshots/:id/manifest'],
        ['DELETE', '/v1/volumes/:v/snapshots/:id'],
        ['GET', '/v1/replications/:id'],
        ['GET', '/v1/replications/:id/destination'],
        ['DELETE', '/v1/replications/:id'],
        ['GET', '/v1/standby/:v'],
        ['GET', '/v1/standby/:v/restore-points/:id/manifest'],
        ['POST', '/v1/standby/:v/promote'],
        ['POST', '/v1/standby/:v/prepare'],
        ['PATCH', '/v1/info'],
      ),
      name,
      name,
      fc.oneof(
        oddValue.map((v) => JSON.stringify(v) ?? ''),
        fc.string({ maxLength: 30 }),
      ),
      ([method, route], v, id, body) =>
        check({
          port: 'control',
          method,
          path: route.replace(':v', v).replace(':id', id),
          ...(method === 'POST' ? { body: Buffer.from(body) } : {}),
        }),
    ),
    fuzzParams(200),
  );
  await healthy();
});

it('manifests: mutated whole and as deltas, odd encodings, sessions and query strings', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(mutation, { minLength: 1, maxLength: 3 }),
      fc.boolean(),
      fc.constantFrom('identity', 'gzip', 'br', 'deflate', 'compress', 'gzip-lie'),
      fc.oneof(fc.constant(undefined), fc.constantFrom('s1', '', 'bad session!', 'x'.repeat(200))),
      fc.constantFrom('', '?retain=0', '?retain=abc', '?retain=5&full=1', '?full=yes'),
      async (ms, asDelta, encoding, session, query) => {
        const doc = asDelta
          ? mutate({ ...manifest, base: 'rp-none', ops: [{ op: 'keep', count: 1 }] }, ms)
          : mutate(manifest, ms);
        let body = Buffer.from(JSON.stringify(doc) ?? 'null');
        if (encoding === 'gzip') body = zlib.gzipSync(body);
        else if (encoding === 'br') body = zlib.brotliCompressSync(body);
        else if (encoding === 'deflate') body = zlib.deflateSync(body);
        await check({
          port: 'control',
          method: 'POST',
          path: `/v1/standby/fuzzed/commit${query}`,
          headers: {
            'content-type': 'application/json',
            ...(encoding !== 'identity'
              ? { 'content-encoding': encoding === 'gzip-lie' ? 'gzip' : encoding }
              : {}),
            ...(session !== undefined ? { 'x-ferry-session': session } : {}),
          },
          body,
        });
      },
    ),
    fuzzParams(200),
  );
  await healthy();
});

it('chunk frames and have queries: lying hashes, lengths and encodings, truncation, garbage', async () => {
  const frame = fc
    .record({
      data: fc.uint8Array({ minLength: 1, maxLength: 2048 }),
      honestHash: fc.boolean(),
      rawLen: fc.oneof(fc.constant(-1), fc.constantFrom(0, 1, 0xffffffff, 262_145)),
      storedLen: fc.oneof(fc.constant(-1), fc.constantFrom(0, 1, 0xffffffff)),
      encoding: fc.constantFrom(0x00, 0x01, 0x02, 0x03, 0xff),
      cut: fc.nat(),
    })
    .map(({ data, honestHash, rawLen, storedLen, encoding, cut }) => {
      const raw = Buffer.from(data);
      // An honest hash with a lie elsewhere (lengths, encoding) or a lying hash over honest data.
      const hash = crypto
        .createHash('sha256')
        .update(honestHash ? raw : Buffer.concat([raw, Buffer.from('x')]))
        .digest();
      const stored = Buffer.concat([Buffer.from([encoding]), raw]);
      const f = Buffer.concat([
        frameHeader(hash, rawLen >= 0 ? rawLen : raw.length, storedLen >= 0 ? storedLen : stored.length),
        stored,
      ]);
      // A length drawn from the constants may happen to be the true one (1 for one byte): no lie.
      const lies =
        !honestHash ||
        (rawLen >= 0 && rawLen !== raw.length) ||
        (storedLen >= 0 && storedLen !== stored.length) ||
        encoding !== 0x00;
      return { bytes: cut % 4 === 0 ? f.subarray(0, cut % f.length) : f, hash, lies };
    });
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.array(frame, { minLength: 1, maxLength: 3 }).map((fs) => ({
          path: '/v1/chunks',
          body: Buffer.concat(fs.map((f) => f.bytes)),
          // An honest frame of the batch may store the same content a lying one names.
          lying: fs
            .filter((f) => f.lies && !fs.some((g) => !g.lies && g.hash.equals(f.hash)))
            .map((f) => f.hash),
        })),
        fc
          .uint8Array({ maxLength: 300 })
          .map((b) => ({ path: '/v1/chunks', body: Buffer.from(b), lying: [] })),
        fc
          .uint8Array({ maxLength: 100 })
          .map((b) => ({ path: '/v1/chunks/have?verify=1', body: Buffer.from(b), lying: [] })),
      ),
      fc.oneof(fc.constant(undefined), fc.constantFrom('s1', '../s', '')),
      (r, session) =>
        check(
          {
            port: 'data',
            method: 'POST',
            path: r.path,
            body: r.body,
            headers: session !== undefined ? { 'x-ferry-session': session } : {},
          },
          r.lying,
        ),
    ),
    fuzzParams(150),
  );
  await healthy();
  expect(tally.refused).toBeGreaterThan(tally.accepted);
});
