import { jest } from '@jest/globals';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChunkStore } from '../../../datapath/store/chunk-store.js';
import { DIRECT_MIN_BYTES, directPad } from '../../../datapath/store/pack.js';
import { decodeChunk, encodeChunk, ENC_BROTLI, ENC_RAW } from '../../../datapath/store/chunk-codec.js';
import { hashHex } from '../../../datapath/store/hash.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-store-'));
});
// A store opened on packs it must index writes their index files in the background (pack.ts
// sealIfFull): removing the folder under one of those writes failed with ENOTEMPTY in CI.
const opened: ChunkStore[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.sealed()));
  fs.rmSync(dir, { recursive: true, force: true });
});

const openAt = async (opts: Parameters<typeof ChunkStore.open>[1]): Promise<ChunkStore> => {
  const s = await ChunkStore.open(dir, opts);
  opened.push(s);
  return s;
};
const open = (): Promise<ChunkStore> => openAt({ maxChunkSize: 256 * 1024 });
/** Whether the test directory's filesystem takes O_DIRECT (not tmpfs). */
const directFs = (): boolean =>
  process.platform === 'linux' && !fs.readFileSync('/proc/mounts', 'utf8').includes(`${os.tmpdir()} tmpfs`);

describe('chunk codec', () => {
  it('compresses text, keeps random data raw, and round-trips both', async () => {
    const text = Buffer.from('the quick brown fox '.repeat(2000));
    const rand = crypto.randomBytes(40_000);
    const t = await encodeChunk(text, true);
    const r = await encodeChunk(rand, true);
    expect(t.stored[0]).toBe(ENC_BROTLI);
    expect(t.stored.length).toBeLessThan(text.length / 10);
    expect(r.stored[0]).toBe(ENC_RAW);
    expect(await decodeChunk(t.stored, text.length)).toEqual(text);
    expect(await decodeChunk(r.stored, rand.length)).toEqual(rand);
  });

  it('refuses a compressed payload that inflates beyond its bound', async () => {
    const bomb = await encodeChunk(Buffer.alloc(200_000), true);
    await expect(decodeChunk(bomb.stored, 1000)).rejects.toMatchObject({ status: 413 });
  });

  it('refuses unknown encodings', async () => {
    await expect(decodeChunk(Buffer.from([7, 1, 2]), 10)).rejects.toThrow(/unknown chunk encoding 7/);
  });
});

describe('ChunkStore', () => {
  it('whenPresent resolves when the chunk lands, or when cancelled, and forgets cancelled waiters', async () => {
    const s = await open();
    const data = crypto.randomBytes(10_000);
    const h = hashHex(data);
    const landed = s.whenPresent(h);
    const cancelled = s.whenPresent(h);
    let settled = false;
    void landed.arrived.then(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    cancelled.cancel();
    await cancelled.arrived; // resolves though the chunk is absent
    expect(s.has(h)).toBe(false);
    await s.put(h, data);
    await landed.arrived;
    expect(settled).toBe(true);
    // present already: resolved at once; cancelling afterwards is harmless
    const again = s.whenPresent(h);
    await again.arrived;
    again.cancel();
  });

  it('puts, dedups, reads back and verifies', async () => {
    const s = await open();
    const data = crypto.randomBytes(100_000);
    const h = hashHex(data);
    expect((await s.put(h, data)).written).toBe(true);
    expect((await s.put(h, data)).written).toBe(false);
    expect(s.has(h)).toBe(true);
    expect(await s.readRaw(h)).toEqual(data);
    expect(await s.verify(h)).toBe(true);
    expect(s.locate(h)).toMatchObject({ storedLength: 100_001 });
  });

  it('reads raw chunks into a reused scratch buffer, and decodes compressed ones', async () => {
    const s = await open();
    const random = crypto.randomBytes(70_000);
    const text = Buffer.from('ferry '.repeat(20_000));
    const [hr, ht] = [hashHex(random), hashHex(text)];
    await s.put(hr, random, { compress: true });
    await s.put(ht, text, { compress: true });
    expect(s.locate(ht)!.storedLength).toBeLessThan(text.length); // stored compressed
    const scratch = Buffer.alloc(256 * 1024 + 1);
    const a = await s.readRawInto(hr, scratch);
    expect(a).toEqual(random);
    expect(a.buffer).toBe(scratch.buffer); // a view of the scratch: no allocation
    expect(await s.readRawInto(ht, scratch)).toEqual(text);
    await expect(s.readRawInto(hr, Buffer.alloc(1000))).rejects.toThrow(
      /scratch buffer of 1000 bytes is too small/,
    );
    await expect(s.readRawInto('00'.repeat(32), scratch)).rejects.toThrow(/is not in the store/);
  });

  it('reads raw chunks on the thread pool too (readRawAsync), raw and compressed, and names a missing one', async () => {
    const s = await open();
    const raw = crypto.randomBytes(70_000);
    const text = Buffer.from('compressible text '.repeat(4000));
    await s.put(hashHex(raw), raw);
    await s.put(hashHex(text), text, { compress: true });
    const [a, b] = await Promise.all([s.readRawAsync(hashHex(raw)), s.readRawAsync(hashHex(text))]);
    expect(a.equals(raw)).toBe(true);
    expect(b.equals(text)).toBe(true);
    await expect(s.readRawAsync('00'.repeat(32))).rejects.toThrow(/is not in the store/);
    s.close();
  });

  it('detects a corrupted chunk, drops it, and a verified put rewrites it', async () => {
    const s = await open();
    const data = crypto.randomBytes(50_000);
    const h = hashHex(data);
    await s.put(h, data);
    const loc = s.locate(h);
    if (!loc) throw new Error('not stored');
    const fd = fs.openSync(loc.file, 'r+');
    fs.writeSync(fd, Buffer.from([0xee, 0xee]), 0, 2, loc.storedOffset + 100);
    fs.closeSync(fd);
    expect(await s.verify(h)).toBe(false);
    expect(s.has(h)).toBe(false);
    expect((await s.put(h, data, { verify: true })).written).toBe(true);
    expect(await s.readRaw(h)).toEqual(data);
  });

  it('reopens from its packs, and truncates a torn or corrupt tail a crash left', async () => {
    const s = await open();
    const a = crypto.randomBytes(30_000);
    const b = crypto.randomBytes(30_000);
    await s.put(hashHex(a), a);
    await s.put(hashHex(b), b);
    const file = (s.locate(hashHex(b)) as { file: string }).file;
    const good = fs.statSync(file).size;
    s.close();
    // a torn append: a header promising more bytes than exist
    fs.appendFileSync(
      file,
      Buffer.concat([
        Buffer.from('FCK1'),
        crypto.randomBytes(32),
        Buffer.from([0, 1, 0, 0]),
        Buffer.alloc(10),
      ]),
    );
    const again = await open();
    expect([again.has(hashHex(a)), again.has(hashHex(b))]).toEqual([true, true]);
    expect(again.count).toBe(2);
    expect(fs.statSync(file).size).toBe(good);
    expect(await again.readRaw(hashHex(b))).toEqual(b);
    // a complete-looking last record whose content is wrong
    const c = crypto.randomBytes(1000);
    await again.put(hashHex(c), c);
    const loc = again.locate(hashHex(c)) as { file: string; storedOffset: number };
    again.close();
    const fd = fs.openSync(loc.file, 'r+');
    fs.writeSync(fd, Buffer.from([0xff, 0xff, 0xff]), 0, 3, loc.storedOffset + 500);
    fs.closeSync(fd);
    const third = await open();
    expect(third.has(hashHex(c))).toBe(false);
    expect(third.count).toBe(2);
    expect(fs.statSync(file).size).toBe(good);
    third.close();
  });

  it('garbage-collects chunks with no references and no pins, and only those', async () => {
    const s = await open();
    const mk = async (seed: string): Promise<string> => {
      const d = Buffer.from(seed.repeat(100));
      const h = hashHex(d);
      await s.put(h, d);
      return h;
    };
    const [a, b, c, d] = [await mk('a'), await mk('b'), await mk('c'), await mk('d')];
    s.ref([a, b]);
    s.ref([b]);
    const pin = s.pin();
    pin.add(c);
    expect((await s.gc()).deleted).toBe(1); // d
    expect([a, b, c, d].map((h) => s.has(h))).toEqual([true, true, true, false]);
    s.unref([a, b]);
    s.release(pin);
    await s.gc();
    expect([a, b, c].map((h) => s.has(h))).toEqual([false, true, false]);
    expect(s.refCount(b)).toBe(1);
    expect(await s.readRaw(b)).toEqual(Buffer.from('b'.repeat(100)));
  });

  it('reclaims disk: deletes dead packs and compacts mostly-dead ones, keeping live chunks readable', async () => {
    const s = await openAt({ maxChunkSize: 256 * 1024, packBytes: 1 << 20 });
    const chunks = Array.from({ length: 40 }, (_, i) =>
      crypto.createHash('sha512').update(String(i)).digest().toString('hex').repeat(1000),
    );
    const hashes: string[] = [];
    for (const c of chunks) {
      const d = Buffer.from(c);
      hashes.push(hashHex(d));
      await s.put(hashHex(d), d);
    }
    const before = s.diskBytes;
    expect(before).toBeGreaterThan(40 * 128_000);
    const keep = hashes.filter((_, i) => i % 5 === 0);
    s.ref(keep);
    const r = await s.gc();
    expect(r.deleted).toBe(32);
    expect(r.packsCompacted).toBeGreaterThan(0);
    expect(s.diskBytes).toBeLessThan(before / 3);
    for (const h of keep) expect(hashHex(await s.readRaw(h))).toBe(h);
    s.close();
    const again = await openAt({ maxChunkSize: 256 * 1024, packBytes: 1 << 20 });
    expect(again.count).toBe(keep.length);
    again.close();
  });

  it('with compact: false drops dead chunks but leaves packs with live records for a later gc', async () => {
    const s = await openAt({ maxChunkSize: 256 * 1024, packBytes: 1 << 20 });
    const raws = Array.from({ length: 40 }, () => crypto.randomBytes(100_000));
    const hashes = raws.map((r) => hashHex(r));
    for (const [k, r] of raws.entries()) await s.put(hashes[k] as string, r, { compress: false });
    const keep = hashes.filter((_, i) => i % 5 === 0);
    s.ref(keep);
    const before = s.diskBytes;
    const first = await s.gc({ compact: false });
    expect(first).toEqual({ deleted: 32, packsRemoved: 0, packsCompacted: 0 });
    expect(s.has(hashes[1] as string)).toBe(false);
    expect(s.diskBytes).toBe(before);
    const later = await s.gc();
    expect(later.deleted).toBe(0);
    expect(later.packsCompacted).toBeGreaterThan(0);
    expect(s.diskBytes).toBeLessThan(before / 3);
    for (const h of keep) expect(hashHex(await s.readRaw(h))).toBe(h);
    s.close();
  });

  it('keeps references made before a chunk arrives', async () => {
    const s = await open();
    const data = Buffer.from('late chunk');
    const h = hashHex(data);
    s.ref([h]);
    await s.put(h, data);
    await s.gc();
    expect(s.has(h)).toBe(true);
    expect(s.refCount(h)).toBe(1);
  });
});

describe('pack index files (a store opens without reading every record header)', () => {
  const packBytes = 256 * 1024;
  const openSmall = (): Promise<ChunkStore> => openAt({ maxChunkSize: 256 * 1024, packBytes });
  const packDir = (): string => path.join(dir, 'packs');
  const files = (ext: string): string[] =>
    fs
      .readdirSync(packDir())
      .filter((f) => f.endsWith(ext))
      .sort();
  /** Overwrites the magic of every record header the store's index knows in `file` (a scan then stops at the first). */
  const breakHeaders = (s: ChunkStore, hexes: string[], file: string): void => {
    const fd = fs.openSync(file, 'r+');
    for (const h of hexes) {
      const l = s.locate(h);
      if (l?.file === file) fs.writeSync(fd, Buffer.from('XXXX'), 0, 4, l.offset);
    }
    fs.closeSync(fd);
  };
  const fill = async (s: ChunkStore, n: number): Promise<Buffer[]> => {
    const raws = Array.from({ length: n }, () => crypto.randomBytes(20_000 + crypto.randomInt(10_000)));
    for (const r of raws) await s.put(hashHex(r), r);
    return raws;
  };

  it('writes an index for each full pack, and a reopen takes the records from it', async () => {
    const s = await openSmall();
    const raws = await fill(s, 40); // ~1 MiB: four full packs and a tail
    await s.sealed();
    const packs = files('.pack');
    expect(packs.length).toBeGreaterThanOrEqual(4);
    expect(files('.idx')).toEqual(packs.slice(0, -1).map((f) => f.replace('.pack', '.idx')));
    const hexes = raws.map((r) => hashHex(r));
    const first = path.join(packDir(), packs[0]!);
    s.close();
    const again = await openSmall();
    breakHeaders(again, hexes, first); // a scan would now see no record in this pack
    again.close();
    const third = await openSmall();
    expect(third.count).toBe(raws.length);
    for (const r of raws) expect((await third.readRaw(hashHex(r))).equals(r)).toBe(true);
    third.close();
  });

  it('gc leaves a dropped chunk out of the rewritten index, without marking the pack', async () => {
    const s = await openSmall();
    const raws = await fill(s, 40);
    await s.sealed();
    const hexes = raws.map((r) => hashHex(r));
    const first = path.join(packDir(), files('.pack')[0]!);
    const inFirst = hexes.filter((h) => s.locate(h)?.file === first);
    expect(inFirst.length).toBeGreaterThan(3);
    const before = fs.readFileSync(first);
    // one chunk of the first pack has no reference: gc drops it (the pack is mostly live: kept)
    s.ref(hexes.filter((h) => h !== inFirst[1]));
    await s.gc();
    await s.sealed();
    expect(s.has(inFirst[1]!)).toBe(false);
    expect(fs.readFileSync(first).equals(before)).toBe(true); // no DEAD mark written into the pack
    expect(fs.existsSync(first.replace('.pack', '.idx'))).toBe(true);
    s.close();
    const again = await openSmall(); // from the rewritten index
    expect(again.has(inFirst[1]!)).toBe(false);
    expect(again.count).toBe(raws.length - 1);
    for (const h of hexes.filter((x) => x !== inFirst[1])) expect(again.has(h)).toBe(true);
    breakHeaders(again, hexes, first); // it did not scan: a scan would now find nothing
    again.close();
    const third = await openSmall();
    expect(third.count).toBe(raws.length - 1);
    third.close();
  });

  it('a corrupt chunk deletes its pack index and is marked dead, so it stays gone; the next open indexes the pack again', async () => {
    const s = await openSmall();
    const raws = await fill(s, 40);
    await s.sealed();
    const hexes = raws.map((r) => hashHex(r));
    const first = path.join(packDir(), files('.pack')[0]!);
    const victim = hexes.find((h) => s.locate(h)?.file === first)!;
    const at = s.locate(victim)!.storedOffset + 100;
    const fd = fs.openSync(first, 'r+');
    fs.writeSync(fd, Buffer.from('rot!'), 0, 4, at);
    fs.closeSync(fd);
    expect(await s.verify(victim)).toBe(false);
    expect(fs.existsSync(first.replace('.pack', '.idx'))).toBe(false);
    s.close();
    const again = await openSmall(); // scans the pack: the DEAD mark keeps the chunk out
    expect(again.has(victim)).toBe(false);
    expect(again.count).toBe(raws.length - 1);
    await again.sealed();
    expect(fs.existsSync(first.replace('.pack', '.idx'))).toBe(true);
    again.close();
    const third = await openSmall();
    expect(third.has(victim)).toBe(false);
    third.close();
  });

  it('a chunk killed while its pack fills is left out of the index', async () => {
    const s = await openSmall();
    const early = await fill(s, 2);
    s.ref([hashHex(early[1]!)]); // early[0] has no reference
    await s.gc();
    const raws = await fill(s, 40);
    await s.sealed();
    s.close();
    const again = await openSmall();
    expect(again.has(hashHex(early[0]!))).toBe(false);
    expect(again.count).toBe(raws.length + 1);
    again.close();
  });

  it('ignores an index that does not match its pack, and one left without a pack', async () => {
    const s = await openSmall();
    const raws = await fill(s, 40);
    await s.sealed();
    const first = path.join(packDir(), files('.pack')[0]!);
    s.close();
    fs.appendFileSync(first, Buffer.from('torn')); // the size the index names is no longer the pack's
    fs.writeFileSync(path.join(packDir(), '00009999.idx'), 'orphan');
    const again = await openSmall();
    expect(again.count).toBe(raws.length);
    expect(fs.readFileSync(first).subarray(-4).toString()).not.toBe('torn'); // scanned: torn bytes cut
    expect(fs.existsSync(path.join(packDir(), '00009999.idx'))).toBe(false);
    for (const r of raws) expect((await again.readRaw(hashHex(r))).equals(r)).toBe(true);
    again.close();
  });
});

describe('record runs (a push reads back-to-back chunks with one read)', () => {
  const raws = Array.from({ length: 12 }, (_, i) => crypto.randomBytes(10_000 + i * 1000));
  const hashes = raws.map((r) => hashHex(r));
  const body = (buf: Buffer, at: number): { hex: string; stored: Buffer } => {
    const len = buf.readUInt32BE(at + 36);
    return { hex: buf.toString('hex', at + 4, at + 36), stored: buf.subarray(at + 40, at + 40 + len) };
  };

  it('reads consecutive records in one go, stopping at the limit, at a gap and at `to`', async () => {
    const s = await open();
    for (const r of raws.slice(0, 6)) await s.put(hashHex(r), r);
    await s.put(hashHex(Buffer.from('elsewhere')), Buffer.from('elsewhere'));
    for (const r of raws.slice(6)) await s.put(hashHex(r), r);
    // Not in store order: 0..5 are adjacent, then "elsewhere" separates 5 from 6.
    const all = s.recordRun(hashes, 0, hashes.length, 1 << 20);
    expect(all.recs.map((r) => r.hex)).toEqual(hashes.slice(0, 6));
    expect(s.recordRun(hashes, 6, hashes.length, 1 << 20).recs).toHaveLength(6);
    expect(s.recordRun(hashes, 0, 3, 1 << 20).recs).toHaveLength(3);
    const limited = s.recordRun(hashes, 0, hashes.length, 2 * (40 + 1 + 11_000));
    expect(limited.recs).toHaveLength(2);
    // At least the first record, whatever the limit.
    expect(s.recordRun(hashes, 4, hashes.length, 1).recs).toHaveLength(1);
    const out = Buffer.alloc(all.bytes + 100, 0xee);
    expect(await s.readRecordRun(all, out, 100)).toBe(6);
    for (const [k, r] of all.recs.entries()) {
      const b = body(out, 100 + r.rel);
      expect(b.hex).toBe(hashes[k]);
      expect(await decodeChunk(b.stored, raws[k]!.length)).toEqual(raws[k]);
    }
    expect(() => s.recordRun(['00'.repeat(32)], 0, 1, 1 << 20)).toThrow(/is not in the store/);
    s.close();
  });

  it('reports records dropped or moved by gc since the run was planned as not read', async () => {
    const s = await openAt({ maxChunkSize: 256 * 1024, packBytes: 64 * 1024 });
    for (const r of raws) await s.put(hashHex(r), r);
    const run = s.recordRun(hashes, 1, 3, 1 << 20);
    expect(run.recs).toHaveLength(2);
    // Only chunk 2 is kept: its pack is compacted (its record moves) or removed.
    s.ref([hashes[2]!]);
    await s.gc();
    const out = Buffer.alloc(run.bytes);
    expect(await s.readRecordRun(run, out, 0)).toBe(0);
    expect(await decodeChunk(s.readStoredInto(hashes[2]!, Buffer.alloc(300_000)), raws[2]!.length)).toEqual(
      raws[2],
    );
    s.close();
  });
});

describe('rawInOrder (a commit writes a file from its chunks, read in runs ahead)', () => {
  const collect = async (s: ChunkStore, hexes: string[]): Promise<Buffer[]> => {
    const out: Buffer[] = [];
    // Each yielded buffer is only valid until the next: copy it.
    for await (const b of s.rawInOrder(hexes, Buffer.alloc(256 * 1024 + 1))) out.push(Buffer.from(b));
    return out;
  };

  it('yields every chunk in the order asked, across packs, gaps, repeats, compressed ones and direct runs', async () => {
    const s = await openAt({ maxChunkSize: 256 * 1024, packBytes: 1 << 20 });
    const big = Array.from({ length: 70 }, () => crypto.randomBytes(60_000 + crypto.randomInt(8000)));
    await s.appendRawBatchAsync(big.map((raw) => ({ hex: hashHex(raw), raw }))); // ~4.3 MiB: direct, spans runs
    const text = Buffer.from('compressible '.repeat(5000));
    await s.put(hashHex(text), text, { compress: true });
    const small = Array.from({ length: 40 }, () => crypto.randomBytes(20_000 + crypto.randomInt(30_000)));
    for (const r of small) await s.put(hashHex(r), r); // several 1 MiB packs
    const file = [...big.slice(0, 50), text, ...small, big[3]!, ...big.slice(50), small[0]!, text];
    const got = await collect(
      s,
      file.map((r) => hashHex(r)),
    );
    expect(got).toHaveLength(file.length);
    for (const [k, r] of file.entries()) expect(got[k]!.equals(r)).toBe(true);
    s.close();
  });

  it('yields the right bytes when gc moves records while it reads, and names a missing chunk', async () => {
    const s = await openAt({ maxChunkSize: 256 * 1024, packBytes: 64 * 1024 });
    const raws = Array.from({ length: 40 }, () => crypto.randomBytes(10_000 + crypto.randomInt(5000)));
    for (const r of raws) await s.put(hashHex(r), r);
    const hexes = raws.map((r) => hashHex(r));
    const kept = hexes.filter((_, i) => i % 3 !== 1);
    const it = s.rawInOrder(kept, Buffer.alloc(256 * 1024 + 1));
    const got = [Buffer.from((await it.next()).value as Buffer)]; // the next runs are being read now
    s.ref(kept);
    await s.gc(); // packs compacted: the kept records move, the others are dropped
    for (let r = await it.next(); !r.done; r = await it.next()) got.push(Buffer.from(r.value));
    expect(got).toHaveLength(kept.length);
    for (const [k, h] of kept.entries()) expect(got[k]!.equals(raws[hexes.indexOf(h)]!)).toBe(true);
    await expect(collect(s, [hexes[2]!, hexes[4]!])).rejects.toThrow(hexes[4]!);
    s.close();
  });
});

describe('large asynchronous batches (O_DIRECT where the filesystem takes it)', () => {
  it.each([
    [0, 0],
    [4096, 0],
    [4000, 96],
    [4090, 4102], // 6 bytes cannot hold a record header: pad to the boundary after
    [1, 4095],
    [8192 + 40, 4056],
  ])('pads offset %d to a 4 KiB boundary with a %d-byte DEAD record', (off, pad) => {
    expect(directPad(off)).toBe(pad);
    expect((off + pad) % 4096).toBe(0);
  });

  const batch = (n: number): Array<{ hex: string; raw: Buffer }> =>
    Array.from({ length: n }, () => {
      const raw = crypto.randomBytes(60_000 + crypto.randomInt(8000));
      return { hex: hashHex(raw), raw };
    });

  it('lands every chunk readable after sync appends before and after, and after a reopen', async () => {
    const s = await open();
    const small = crypto.randomBytes(30_001); // leaves the pack off a 4 KiB boundary
    await s.put(hashHex(small), small);
    const first = batch(60); // ~3.9 MiB: above DIRECT_MIN_BYTES
    expect(first.reduce((a, c) => a + c.raw.length, 0)).toBeGreaterThan(DIRECT_MIN_BYTES);
    expect((await s.appendRawBatchAsync(first)).sort()).toEqual(first.map((c) => c.hex).sort());
    const between = crypto.randomBytes(12_345);
    await s.put(hashHex(between), between);
    const second = batch(56);
    expect(second.reduce((a, c) => a + c.raw.length, 0)).toBeGreaterThan(DIRECT_MIN_BYTES);
    await s.appendRawBatchAsync(second);
    const all = [
      { hex: hashHex(small), raw: small },
      ...first,
      { hex: hashHex(between), raw: between },
      ...second,
    ];
    for (const c of all) expect((await s.readRaw(c.hex)).equals(c.raw)).toBe(true);
    const file = (s.locate(first[0]!.hex) as { file: string }).file;
    if (
      process.platform === 'linux' &&
      !fs.readFileSync('/proc/mounts', 'utf8').includes(`${os.tmpdir()} tmpfs`)
    ) {
      // the direct path ran: each large run starts on a 4 KiB boundary
      expect((s.locate(first[0]!.hex) as { offset: number }).offset % 4096).toBe(0);
      expect((s.locate(second[0]!.hex) as { offset: number }).offset % 4096).toBe(0);
    }
    const size = fs.statSync(file).size;
    s.close();
    const again = await open();
    expect(again.count).toBe(all.length);
    for (const c of all) expect((await again.readRaw(c.hex)).equals(c.raw)).toBe(true);
    expect(fs.statSync(file).size).toBe(size); // padding is not a torn tail
    expect(fs.readdirSync(path.dirname(file)).filter((f) => !f.endsWith('.pack'))).toEqual([]);
    again.close();
  });

  it('reads a batch back for sending with O_DIRECT, coherent with a record killed since', async () => {
    const s = await open();
    const small = crypto.randomBytes(30_001);
    await s.put(hashHex(small), small); // the batch's run starts after a pad, not at 0
    const run = batch(60);
    await s.appendRawBatchAsync(run);
    const hexes = run.map((c) => c.hex);
    const planned = s.recordRun(hexes, 3, hexes.length, 1 << 20);
    expect(planned.recs.length).toBeGreaterThan(5);
    expect(planned.bytes).toBeGreaterThan(256 * 1024);
    const out = Buffer.alloc(planned.bytes + 7, 0xee);
    expect(await s.readRecordRun(planned, out, 7)).toBe(planned.recs.length);
    for (const [k, r] of planned.recs.entries()) {
      const len = out.readUInt32BE(7 + r.rel + 36);
      expect(out.toString('hex', 7 + r.rel + 4, 7 + r.rel + 36)).toBe(hexes[3 + k]);
      const stored = out.subarray(7 + r.rel + 40, 7 + r.rel + 40 + len);
      expect((await decodeChunk(stored, run[3 + k]!.raw.length)).equals(run[3 + k]!.raw)).toBe(true);
    }
    expect(out[6]).toBe(0xee); // nothing written before `at`
    if (directFs()) expect(s.directReadBytes).toBeGreaterThanOrEqual(planned.bytes);
    // Chunk 5 is dropped by gc: its record is marked DEAD through the page cache, and a direct read
    // of the same range must see the mark, so the run reads as intact up to it only.
    s.ref([hashHex(small), ...hexes.filter((_, i) => i !== 5)]);
    await s.gc();
    expect(s.has(hexes[5]!)).toBe(false);
    expect(await s.readRecordRun(planned, Buffer.alloc(planned.bytes), 0)).toBe(2);
    s.close();
  });

  it('serves more concurrent direct reads than it has bounce buffers without probing for more', async () => {
    const s = await open();
    const run = batch(120); // ~7.7 MiB: 20 runs of 6 chunks, each read through a bounce buffer
    await s.appendRawBatchAsync(run);
    const hexes = run.map((c) => c.hex);
    const runs = Array.from({ length: 20 }, (_, k) => s.recordRun(hexes, k * 6, k * 6 + 6, 1 << 20));
    const opens = jest.spyOn(fs, 'openSync');
    const outs = runs.map((r) => Buffer.alloc(r.bytes));
    const read = await Promise.all(runs.map((r, k) => s.readRecordRun(r, outs[k]!, 0)));
    const probes = opens.mock.calls.filter(([p]) => String(p).includes('direct-probe')).length;
    opens.mockRestore();
    expect(read).toEqual(runs.map((r) => r.recs.length));
    for (const [k, r] of runs.entries())
      for (const [i, rec] of r.recs.entries()) {
        const out = outs[k]!;
        const len = out.readUInt32BE(rec.rel + 36);
        const raw = await decodeChunk(
          out.subarray(rec.rel + 40, rec.rel + 40 + len),
          run[k * 6 + i]!.raw.length,
        );
        expect(raw.equals(run[k * 6 + i]!.raw)).toBe(true);
      }
    // Every bounce buffer was made with the store (one probe then); a read beyond them waited.
    expect(probes).toBe(0);
    if (directFs()) expect(s.directReadBytes).toBeGreaterThanOrEqual(runs.reduce((a, r) => a + r.bytes, 0));
    s.close();
  });

  it('a run cut short by a crash keeps the records before the cut and drops the rest', async () => {
    const s = await open();
    const run = batch(60);
    await s.appendRawBatchAsync(run);
    const cut = s.locate(run[25]!.hex) as { file: string; offset: number };
    s.close();
    fs.truncateSync(cut.file, cut.offset + 1000); // mid-record 25
    const again = await open();
    expect(again.count).toBe(25);
    for (const c of run.slice(0, 25)) expect((await again.readRaw(c.hex)).equals(c.raw)).toBe(true);
    expect(again.has(run[25]!.hex)).toBe(false);
    expect(fs.statSync(cut.file).size).toBe(cut.offset);
    again.close();
  });
});
