import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Chunker } from '../../../datapath/store/chunker.js';
import { ChunkStore } from '../../../datapath/store/chunk-store.js';
import { hashHex } from '../../../datapath/store/hash.js';
import { hashRanges } from '../../../datapath/store/hash-worker.js';
import type { ChunkEvent } from '../../../datapath/source/ingest.js';
import { BLOCK_SIZE, Ingest, SYNC_READ_MAX } from '../../../datapath/source/ingest.js';

let dir: string;
let store: ChunkStore;
beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-ingest-'));
  store = await ChunkStore.open(path.join(dir, 'chunks'), { maxChunkSize: 256 * 1024, packBytes: 4 << 20 });
});
/**
 * Closes the store once its full packs' index files have landed: they are written after the
 * append that filled the pack (pack.ts), and removing the folder before that failed with
 * ENOTEMPTY on a loaded CI machine.
 */
async function closeStore(): Promise<void> {
  await store.sealed();
  store.close();
}
afterEach(async () => {
  await closeStore();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Deterministic incompressible bytes. */
function keystream(n: number, seed: string): Buffer {
  const key = crypto.createHash('sha256').update(seed).digest();
  return crypto.createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

/** The reference: Chunker.split over the whole file in memory, and each chunk's hash. */
function reference(data: Buffer): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  let off = 0;
  for (const s of new Chunker().split(data)) {
    out.push([hashHex(data.subarray(off, off + s)), s]);
    off += s;
  }
  return out;
}

async function ingestFile(
  data: Buffer,
  opts: { hashWorker?: boolean; compress?: boolean; onChunk?: (c: ChunkEvent) => void } = {},
) {
  const file = path.join(dir, `f-${crypto.randomBytes(4).toString('hex')}`);
  fs.writeFileSync(file, data);
  const ingest = new Ingest({
    store,
    chunker: new Chunker(),
    pin: store.pin(),
    full: false,
    compress: opts.compress ?? true,
    ...(opts.hashWorker === undefined ? {} : { hashWorker: opts.hashWorker }),
    ...(opts.onChunk ? { onChunk: opts.onChunk } : {}),
  });
  const fd = fs.openSync(file, 'r');
  try {
    const r = await ingest.file(fd, data.length);
    await ingest.finish();
    return { ...r, counters: ingest.counters };
  } finally {
    fs.closeSync(fd);
  }
}

describe('Ingest (the snapshot read path)', () => {
  const MAX = 256 * 1024;
  const cases: Array<[string, () => Buffer]> = [
    ['empty', () => Buffer.alloc(0)],
    ['one byte', () => Buffer.from('x')],
    ['a small file', () => keystream(40_000, 'small')],
    ['exactly the sync-read limit', () => keystream(SYNC_READ_MAX, 'sync')],
    ['just over the sync-read limit', () => keystream(SYNC_READ_MAX + 1, 'sync+1')],
    ['exactly one block', () => keystream(BLOCK_SIZE, 'block')],
    ['one block plus less than max', () => keystream(BLOCK_SIZE + 1000, 'block+')],
    ['three blocks and a bit', () => keystream(3 * BLOCK_SIZE + MAX + 17, 'blocks')],
    [
      'zeros (max-size chunks straddling blocks) between random runs',
      () => Buffer.concat([keystream(5_000_000, 'a'), Buffer.alloc(9_000_000), keystream(3_000_000, 'b')]),
    ],
  ];
  for (const hashWorker of [true, false]) {
    for (const [name, make] of cases) {
      it(`cuts ${name} exactly like Chunker.split (hash worker ${hashWorker ? 'on' : 'off'})`, async () => {
        const data = make();
        const r = await ingestFile(data, { hashWorker });
        expect(r.size).toBe(data.length);
        expect(r.chunks).toEqual(reference(data));
        for (const [h] of r.chunks) expect(hashHex(await store.readRaw(h))).toBe(h);
      });
    }
  }

  it('onChunk reports each distinct chunk once, readable from the store, and exactly the chunks stored', async () => {
    const data = Buffer.concat([
      keystream(2_000_000, 'x'),
      Buffer.from('compressible text '.repeat(20_000)),
      keystream(2_000_000, 'x'), // repeats the first part: deduplicated
      keystream(12_000_000, 'y'),
    ]);
    const before = store.count;
    const seen: ChunkEvent[] = [];
    const r = await ingestFile(data, {
      onChunk: (c) => {
        expect(hashHex(store.readStored(c.hash).subarray(1)).length).toBe(64);
        expect(store.has(c.hash)).toBe(true);
        seen.push(c);
      },
    });
    const distinct = new Map(r.chunks);
    expect(seen.length).toBe(distinct.size);
    expect(new Set(seen.map((c) => c.hash))).toEqual(new Set(distinct.keys()));
    for (const c of seen) expect(c.size).toBe(distinct.get(c.hash));
    expect(seen.filter((c) => c.stored).length).toBe(store.count - before);
    expect(r.counters.chunksNew).toBe(store.count - before);
    expect(r.counters.chunksCompressed).toBeGreaterThan(0);
    // the same content again: everything is already there, nothing is written
    const again: ChunkEvent[] = [];
    const r2 = await ingestFile(data, { onChunk: (c) => again.push(c) });
    expect(r2.chunks).toEqual(r.chunks);
    expect(again.length).toBe(distinct.size);
    expect(again.every((c) => !c.stored)).toBe(true);
    expect(r2.counters.chunksNew).toBe(0);
  });

  it('a large file mixing compressible and incompressible chunks does not scatter packs', async () => {
    await closeStore();
    store = await ChunkStore.open(path.join(dir, 'chunks2'), { maxChunkSize: 256 * 1024 });
    const parts: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      parts.push(keystream(300_000, `mix${i}`), Buffer.from(`line ${i} of some text\n`.repeat(15_000)));
    }
    const data = Buffer.concat(parts);
    const r = await ingestFile(data);
    expect(r.chunks).toEqual(reference(data));
    expect(r.counters.chunksCompressed).toBeGreaterThan(10);
    // compressed chunks are appended while a raw batch is being written: they share one other pack
    expect(fs.readdirSync(path.join(dir, 'chunks2', 'packs')).length).toBeLessThanOrEqual(2);
  });

  it.each(['sha256', 'blake3'] as const)(
    'hashRanges (%s) on the worker matches inline hashing',
    async (alg) => {
      const buf = Buffer.from(new SharedArrayBuffer(1 << 20));
      keystream(1 << 20, 'h').copy(buf);
      const cuts = Int32Array.from([0, 1000, 1000, 70_000, 70_000, 1 << 20]);
      const want = [0, 2, 4].map((i) => hashHex(buf.subarray(cuts[i], cuts[i + 1]), alg));
      expect(await hashRanges(buf, cuts, alg, false)).toEqual(want);
      expect(await hashRanges(buf, cuts, alg, true)).toEqual(want);
      const other = alg === 'sha256' ? 'blake3' : 'sha256';
      expect(await hashRanges(buf, cuts, other, false)).not.toEqual(want);
    },
  );
});

describe('Ingest of a changed large file, given its previous chunks', () => {
  /** A Chunker that counts the bytes its cut() scans from. */
  class CountingChunker extends Chunker {
    scanned = 0;
    override cut(buf: Uint8Array, start: number, end: number): number {
      const c = super.cut(buf, start, end);
      this.scanned += c - start;
      return c;
    }
  }

  async function reingest(data: Buffer, prev: ReadonlyArray<[string, number]>, hashWorker?: boolean) {
    const file = path.join(dir, `f-${crypto.randomBytes(4).toString('hex')}`);
    fs.writeFileSync(file, data);
    const chunker = new CountingChunker();
    const ingest = new Ingest({
      store,
      chunker,
      pin: store.pin(),
      full: false,
      compress: false,
      ...(hashWorker === undefined ? {} : { hashWorker }),
    });
    const fd = fs.openSync(file, 'r');
    try {
      const r = await ingest.file(fd, data.length, prev);
      await ingest.finish();
      return { ...r, scanned: chunker.scanned };
    } finally {
      fs.closeSync(fd);
    }
  }

  const base = Buffer.concat([
    keystream(3 * BLOCK_SIZE + 100_000, 'v1'),
    Buffer.alloc(2_000_000), // max-size chunks
    keystream(1_500_000, 'v1 tail'),
  ]);
  const pages = (n: number, seed: string): Buffer => {
    const out = Buffer.from(base);
    const rnd = keystream(8 * n, seed);
    for (let i = 0; i < n; i++) {
      const at = (rnd.readUInt32LE(8 * i) % Math.floor(out.length / 4096)) * 4096;
      keystream(4096, `${seed} ${i}`).copy(out, at);
    }
    return out;
  };
  const cases: Array<[string, () => Buffer, number]> = [
    // [name, new content, most bytes the cut may scan (the rest is taken from the previous chunks)]
    ['unchanged bytes (a new mtime)', () => Buffer.from(base), 300_000],
    ['40 pages overwritten', () => pages(40, 'p'), 40 * 300_000],
    ['appended 3 MiB', () => Buffer.concat([base, keystream(3 << 20, 'app')]), (3 << 20) + 600_000],
    ['truncated by 1 MiB', () => base.subarray(0, base.length - (1 << 20)), 300_000],
    [
      '5 bytes inserted in the middle (later offsets shift: no previous chunk starts there)',
      () => Buffer.concat([base.subarray(0, 9_000_000), Buffer.from('12345'), base.subarray(9_000_000)]),
      base.length,
    ],
    [
      'a range deleted',
      () => Buffer.concat([base.subarray(0, 5_000_000), base.subarray(5_300_000)]),
      base.length,
    ],
    ['other content altogether', () => keystream(base.length, 'other'), base.length + 1],
  ];

  it.each(cases)(
    '%s: the chunks of a full re-cut, scanning only where content changed',
    async (_, make, bound) => {
      const prev = reference(base);
      const data = make();
      const want = reference(data);
      for (const hashWorker of [true, false]) {
        const got = await reingest(data, prev, hashWorker);
        expect(got.size).toBe(data.length);
        expect(got.chunks).toEqual(want);
        expect(got.scanned).toBeLessThanOrEqual(bound);
      }
    },
  );
});

describe('ChunkStore.appendRawBatch', () => {
  it('async: a busy pack gets no other writer; chunks appear when the write lands', async () => {
    const a = keystream(100_000, 'async-a');
    const b = keystream(100_000, 'async-b');
    const pending = store.appendRawBatchAsync([{ hex: hashHex(a), raw: a }]);
    expect(store.has(hashHex(a))).toBe(false); // not visible before it is written
    await store.put(hashHex(b), b); // a concurrent appender
    expect(await pending).toEqual([hashHex(a)]);
    const la = store.locate(hashHex(a))!;
    const lb = store.locate(hashHex(b))!;
    expect(la.file).not.toBe(lb.file); // b went to a new pack while a's was busy
    expect((await store.readRaw(hashHex(a))).equals(a)).toBe(true);
    await closeStore();
    store = await ChunkStore.open(path.join(dir, 'chunks'), { maxChunkSize: 256 * 1024, packBytes: 4 << 20 });
    expect(store.count).toBe(2);
    expect((await store.readRaw(hashHex(b))).equals(b)).toBe(true);
  });

  it('writes raw records in one pass across pack rotations, skips duplicates, and survives reopen and a torn tail', async () => {
    const items = Array.from({ length: 40 }, (_, i) => keystream(200_000 + i, `r${i}`)).map((raw) => ({
      hex: hashHex(raw),
      raw,
    }));
    const written = store.appendRawBatch([...items, items[0]!]);
    expect(written).toEqual(items.map((i) => i.hex));
    expect(store.appendRawBatch(items.slice(0, 3))).toEqual([]);
    const packs = new Set(items.map((i) => store.locate(i.hex)!.file));
    expect(packs.size).toBeGreaterThan(1); // 8 MB over 4 MiB packs
    for (const i of items) expect((await store.readRaw(i.hex)).equals(i.raw)).toBe(true);
    await closeStore();
    // tear the last record of the last pack
    const last = store.locate(items.at(-1)!.hex)!;
    fs.truncateSync(last.file, last.storedOffset + 1000);
    store = await ChunkStore.open(path.join(dir, 'chunks'), { maxChunkSize: 256 * 1024, packBytes: 4 << 20 });
    expect(store.count).toBe(items.length - 1);
    expect(store.has(items.at(-1)!.hex)).toBe(false);
    for (const i of items.slice(0, -1)) expect((await store.readRaw(i.hex)).equals(i.raw)).toBe(true);
    expect(fs.statSync(last.file).size).toBe(last.offset);
  });
});
