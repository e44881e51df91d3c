import crypto from 'node:crypto';
import type { ChunkerParams } from '../../../datapath/store/chunker.js';
import { Chunker, CHUNK_AVG, CHUNK_MAX, CHUNK_MIN } from '../../../datapath/store/chunker.js';

/** Deterministic pseudo-random bytes (so the test is reproducible). */
function bytes(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  let off = 0;
  let i = 0;
  while (off < n) {
    const block = crypto.createHash('sha256').update(`${seed}-${i++}`).digest();
    off += block.copy(out, off);
  }
  return out;
}

function hashes(buf: Buffer, sizes: number[]): string[] {
  const out: string[] = [];
  let off = 0;
  for (const s of sizes) {
    out.push(
      crypto
        .createHash('sha256')
        .update(buf.subarray(off, off + s))
        .digest('hex'),
    );
    off += s;
  }
  return out;
}

const chunker = new Chunker();
const data = bytes(8 << 20, 'base');

describe('Chunker (FastCDC)', () => {
  it('is deterministic and covers the input exactly', () => {
    const a = chunker.split(data);
    const b = new Chunker().split(Buffer.from(data));
    expect(a).toEqual(b);
    expect(a.reduce((x, y) => x + y, 0)).toBe(data.length);
  });

  it('honours min and max sizes, with an average near the target', () => {
    const sizes = chunker.split(data);
    for (const s of sizes.slice(0, -1)) {
      expect(s).toBeGreaterThanOrEqual(CHUNK_MIN);
      expect(s).toBeLessThanOrEqual(CHUNK_MAX);
    }
    const avg = data.length / sizes.length;
    expect(avg).toBeGreaterThan(CHUNK_AVG * 0.7);
    expect(avg).toBeLessThan(CHUNK_AVG * 1.5);
  });

  it('cuts content without boundaries (all zeros) at max', () => {
    const sizes = chunker.split(Buffer.alloc(1 << 20));
    expect(sizes).toEqual([CHUNK_MAX, CHUNK_MAX, CHUNK_MAX, CHUNK_MAX]);
  });

  it('returns a short final chunk and handles tiny inputs', () => {
    expect(chunker.split(Buffer.alloc(0))).toEqual([]);
    expect(chunker.split(Buffer.from('x'))).toEqual([1]);
    expect(chunker.split(Buffer.alloc(CHUNK_MIN))).toEqual([CHUNK_MIN]);
  });

  it('boundaries are content-defined: an early insert changes only nearby chunks', () => {
    const before = new Set(hashes(data, chunker.split(data)));
    const edited = Buffer.concat([
      data.subarray(0, 100_000),
      Buffer.from('inserted bytes!'),
      data.subarray(100_000),
    ]);
    const after = hashes(edited, chunker.split(edited));
    const reused = after.filter((h) => before.has(h)).length;
    // 8 MiB ≈ 128 chunks; an insert should disturb at most a couple of them
    expect(after.length - reused).toBeLessThanOrEqual(3);
    expect(reused / after.length).toBeGreaterThan(0.97);
  });

  it('an append changes only the last chunk(s); a deletion only nearby ones', () => {
    const before = new Set(hashes(data, chunker.split(data)));
    const appended = Buffer.concat([data, bytes(10_000, 'tail')]);
    const a = hashes(appended, chunker.split(appended));
    expect(a.filter((h) => !before.has(h)).length).toBeLessThanOrEqual(2);
    const cut = Buffer.concat([data.subarray(0, 3_000_000), data.subarray(3_050_000)]);
    const c = hashes(cut, chunker.split(cut));
    expect(c.filter((h) => !before.has(h)).length).toBeLessThanOrEqual(3);
  });

  it('fixed-size chunking would not survive the same insert (control)', () => {
    const fixed = (b: Buffer): number[] =>
      Array.from({ length: Math.ceil(b.length / CHUNK_AVG) }, (_, i) =>
        Math.min(CHUNK_AVG, b.length - i * CHUNK_AVG),
      );
    const before = new Set(hashes(data, fixed(data)));
    const edited = Buffer.concat([data.subarray(0, 100_000), Buffer.from('x'), data.subarray(100_000)]);
    const after = hashes(edited, fixed(edited));
    expect(after.filter((h) => before.has(h)).length / after.length).toBeLessThan(0.1);
  });

  it('cuts exactly where the original (un-unrolled) loop cut: golden boundaries', () => {
    // digests of the chunk size lists produced by the plain one-byte-per-iteration loop this
    // chunker shipped with; changing a boundary would make existing stores dedupe worse
    const mixed = Buffer.concat([
      data.subarray(0, 1 << 20),
      Buffer.alloc(700_000),
      Buffer.from('abc'.repeat(100000)),
      data.subarray(1 << 20, 3 << 20),
    ]);
    const golden: Array<[ChunkerParams | undefined, Buffer, number, string]> = [
      [undefined, data, 114, '2a34aed05c1268b2'],
      [undefined, mixed, 48, '59e5ac615f7a94a0'],
      [{ min: 64, avg: 256, max: 1024 }, data, 28724, '4259954e7c781240'],
      [{ min: 64, avg: 256, max: 1024 }, mixed, 11759, 'bb16ab1ab124f02b'],
      [{ min: 1, avg: 2, max: 7 }, data, 2243790, 'b7abaa66fb10f150'],
      [{ min: 1, avg: 2, max: 7 }, mixed, 1041353, 'f7f805a9d0bb25fb'],
      [{ min: 4096, avg: 8192, max: 65536 }, data, 871, '9b316e729f9ac06f'],
      [{ min: 4096, avg: 8192, max: 65536 }, mixed, 342, '46dd53882af2541b'],
    ];
    for (const [params, input, count, digest] of golden) {
      const sizes = new Chunker(params).split(input);
      expect([
        sizes.length,
        crypto.createHash('sha256').update(sizes.join(',')).digest('hex').slice(0, 16),
      ]).toEqual([count, digest]);
    }
  });

  it('rejects impossible parameters', () => {
    expect(() => new Chunker({ min: 10, avg: 5, max: 20 })).toThrow(/min <= avg <= max/);
  });
});
