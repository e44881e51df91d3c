// The destination's upload parser: frames cut at every kind of boundary (1 byte, 7 bytes, TLS
// record size, one piece) are stored byte for byte; a frame whose content does not hash to its
// name is refused naming the chunk, after the chunks before it were kept.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { receiveChunks } from '../../../datapath/destination/receive.js';
import { encodeDelta } from '../../../datapath/protocol/delta.js';
import { DEFAULT_LIMITS } from '../../../datapath/protocol/limits.js';
import { ByteQueue, frameHeader } from '../../../datapath/protocol/wire.js';
import { encodeChunk } from '../../../datapath/store/chunk-codec.js';
import { ChunkStore } from '../../../datapath/store/chunk-store.js';
import { type HashAlgorithm, hashHex } from '../../../datapath/store/hash.js';
import { tempDir } from '../../harness/temp-dir.js';

describe('ByteQueue.take', () => {
  const queue = (...parts: string[]): ByteQueue => {
    const q = new ByteQueue();
    for (const p of parts) q.push(Buffer.from(p));
    return q;
  };
  it('returns a view of the first part when the bytes lie in it (no copy, scratch untouched)', () => {
    const first = Buffer.from('abcdef');
    const q = new ByteQueue();
    q.push(first);
    const scratch = Buffer.alloc(8, '.');
    const out = q.take(4, scratch);
    expect(out.toString()).toBe('abcd');
    expect(out.buffer).toBe(first.buffer);
    expect(scratch.toString()).toBe('........');
    expect(q.length).toBe(2);
  });
  it.each([
    ['into the scratch', 8, true],
    ['into a new buffer when the scratch is too small', 3, false],
  ])('copies bytes that span parts %s', (_, size, inScratch) => {
    const q = queue('ab', 'cde', 'fg');
    const scratch = Buffer.alloc(size, '.');
    const out = q.take(6, scratch);
    expect(out.toString()).toBe('abcdef');
    expect(out.buffer === scratch.buffer).toBe(inScratch);
    expect(q.take(1).toString()).toBe('g');
    expect(q.length).toBe(0);
  });
});

// Both ways of storing: chunk by chunk, and in batches (2.5 of them in the 10 MiB upload).
describe.each([false, true])('receiveChunks (batch: %s)', (batch) => {
  const root = tempDir('ferry-receive-');
  let store: ChunkStore;
  beforeEach(async () => {
    store = await ChunkStore.open(fs.mkdtempSync(path.join(root, 'store-')), { maxChunkSize: 256 * 1024 });
  });
  afterEach(() => store.close());

  const chunks = [
    crypto.randomBytes(64 * 1024),
    Buffer.from('compressible '.repeat(5000)),
    crypto.randomBytes(1),
    crypto.randomBytes(256 * 1024),
    crypto.randomBytes(40_000),
  ];
  const frames = async (list: Buffer[], lie?: number, alg: HashAlgorithm = 'sha256'): Promise<Buffer> => {
    const out: Buffer[] = [];
    for (const [i, raw] of list.entries()) {
      const { stored } = await encodeChunk(raw, true);
      const name = i === lie ? Buffer.alloc(32, 7) : Buffer.from(hashHex(raw, alg), 'hex');
      out.push(frameHeader(name, raw.length, stored.length), stored);
    }
    return Buffer.concat(out);
  };
  async function* pieces(body: Buffer, size: number): AsyncGenerator<Buffer> {
    for (let at = 0; at < body.length; at += size) yield body.subarray(at, at + size);
  }

  // Chunks named by either algorithm are accepted whatever the upload says it uses (the named one
  // is only tried first): a store holds volumes of both, and both hashes are collision-resistant.
  it.each([
    ['blake3', undefined],
    ['blake3', 'sha256'],
    ['sha256', 'blake3'],
  ] as const)('stores chunks named by %s when the upload says %s', async (alg, said) => {
    const body = await frames(chunks, undefined, alg);
    const r = await receiveChunks(store, pieces(body, 64 * 1024), {
      limits: DEFAULT_LIMITS,
      batch,
      ...(said ? { hash: said } : {}),
    });
    expect(r).toMatchObject({ received: chunks.length, stored: chunks.length });
    for (const raw of chunks) expect((await store.readRaw(hashHex(raw, alg))).equals(raw)).toBe(true);
    // and the store's own check (a `have` with verify, a drifted delta base) knows them too
    for (const raw of chunks) expect(await store.verify(hashHex(raw, alg))).toBe(true);
  });

  it.each([1, 7, 16 * 1024, 1 << 30])(
    'stores every chunk byte for byte from pieces of %d bytes',
    async (size) => {
      const body = await frames(chunks);
      const r = await receiveChunks(store, pieces(body, size), { limits: DEFAULT_LIMITS, batch });
      expect(r).toMatchObject({
        received: chunks.length,
        stored: chunks.length,
        duplicates: 0,
        bytes: body.length - chunks.length * 40,
      });
      for (const raw of chunks) expect((await store.readRaw(hashHex(raw))).equals(raw)).toBe(true);
    },
  );

  it('refuses a chunk whose content does not hash to its name, keeping the ones before it', async () => {
    const body = await frames(chunks, 3);
    await expect(
      receiveChunks(store, pieces(body, 16 * 1024), { limits: DEFAULT_LIMITS, batch, hash: 'sha256' }),
    ).rejects.toMatchObject({
      code: 'hash_mismatch',
      message: expect.stringContaining(
        `chunk ${'07'.repeat(32)}: content hashes to ${hashHex(chunks[3]!)} (sha256); chunk refused`,
      ),
    });
    for (const raw of chunks.slice(0, 3)) expect((await store.readRaw(hashHex(raw))).equals(raw)).toBe(true);
    expect(store.has(hashHex(chunks[4]!))).toBe(false);
  });

  it('stores a 10 MiB upload, each chunk once, counting repeats as duplicates', async () => {
    // 10 MiB of distinct chunks, then one repeated within the upload.
    const many = Array.from({ length: 50 }, () => crypto.randomBytes(200 * 1024));
    const list = [...many, many[1]!];
    const body = await frames(list);
    const seen: boolean[] = [];
    const r = await receiveChunks(store, pieces(body, 16 * 1024), {
      limits: DEFAULT_LIMITS,
      batch,
      onChunk: (_bytes, wasNew) => seen.push(wasNew),
    });
    expect(r).toMatchObject({ received: list.length, stored: many.length, duplicates: 1 });
    expect(seen.filter(Boolean)).toHaveLength(many.length);
    expect(seen).toHaveLength(list.length);
    for (const raw of many) expect((await store.readRaw(hashHex(raw))).equals(raw)).toBe(true);
    // A second upload of the same chunks stores nothing.
    const again = await receiveChunks(store, pieces(body, 1 << 30), { limits: DEFAULT_LIMITS, batch });
    expect(again).toMatchObject({ received: list.length, stored: 0, duplicates: list.length });
  });

  it('rebuilds many deltas, one from a base rebuilt in the same upload, and asks for a chunk whole when its base is gone', async () => {
    const bases = Array.from({ length: 80 }, () => crypto.randomBytes(64 * 1024));
    for (const b of bases) await store.put(hashHex(b), b);
    const edit = (raw: Buffer, seed: number): Buffer => {
      const out = Buffer.from(raw);
      crypto.randomBytes(100).copy(out, (seed * 997) % (raw.length - 100));
      return out;
    };
    const deltaFrame = (raw: Buffer, base: Buffer, name = hashHex(raw)): Buffer => {
      const d = encodeDelta(raw, 0, [{ hash: hashHex(base), offset: 0, raw: base }]) as Buffer;
      return Buffer.concat([frameHeader(Buffer.from(name, 'hex'), raw.length, d.length), d]);
    };
    const changed = bases.map((b, i) => edit(b, i));
    const again = edit(changed[5]!, 1000); // its base is rebuilt earlier in this upload
    const gone = crypto.randomBytes(64 * 1024); // a base the store does not have
    const orphan = edit(gone, 7);
    const body = Buffer.concat([
      ...changed.map((c, i) => deltaFrame(c, bases[i]!)),
      deltaFrame(again, changed[5]!),
      deltaFrame(orphan, gone),
    ]);
    const seen: boolean[] = [];
    const r = await receiveChunks(store, pieces(body, 16 * 1024), {
      limits: DEFAULT_LIMITS,
      batch,
      onChunk: (_bytes, wasNew) => seen.push(wasNew),
    });
    expect(r).toMatchObject({
      received: 81,
      stored: 81,
      deltas: 81,
      duplicates: 0,
      needWhole: [hashHex(orphan)],
    });
    expect(seen).toEqual(Array(81).fill(true));
    for (const c of [...changed, again]) expect((await store.readRaw(hashHex(c))).equals(c)).toBe(true);
    expect(store.has(hashHex(orphan))).toBe(false);

    // A delta that rebuilds to other bytes than its name is refused; the ones before it are kept.
    const more = bases.slice(0, 60).map((b, i) => edit(b, 5000 + i));
    const lying = Buffer.concat(
      more.map((c, i) =>
        deltaFrame(c, bases[i]!, i === 50 ? hashHex(more[0]!).replace(/^../, 'ee') : undefined),
      ),
    );
    await expect(
      receiveChunks(store, pieces(lying, 16 * 1024), { limits: DEFAULT_LIMITS, batch }),
    ).rejects.toMatchObject({ code: 'hash_mismatch' });
    for (const c of more.slice(0, 50)) expect((await store.readRaw(hashHex(c))).equals(c)).toBe(true);
    for (const c of more.slice(51)) expect(store.has(hashHex(c))).toBe(false);
  });

  it('rebuilds a delta whose base arrived earlier in the same upload', async () => {
    const base = crypto.randomBytes(100 * 1024);
    const changed = Buffer.from(base);
    crypto.randomBytes(100).copy(changed, 5000);
    const delta = encodeDelta(changed, 0, [{ hash: hashHex(base), offset: 0, raw: base }]) as Buffer;
    expect(delta.length).toBeLessThan(base.length / 10);
    const body = Buffer.concat([
      await frames([base]),
      frameHeader(Buffer.from(hashHex(changed), 'hex'), changed.length, delta.length),
      delta,
    ]);
    const r = await receiveChunks(store, pieces(body, 16 * 1024), { limits: DEFAULT_LIMITS, batch });
    expect(r).toMatchObject({ received: 2, stored: 2, deltas: 1, needWhole: [] });
    expect((await store.readRaw(hashHex(changed))).equals(changed)).toBe(true);
  });
});
