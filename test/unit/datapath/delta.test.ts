import crypto from 'node:crypto';
import fc from 'fast-check';
import { Chunker } from '../../../datapath/store/chunker.js';
import {
  applyDelta,
  BaseFile,
  deltaBases,
  encodeDelta,
  MAX_DELTA_BASES,
  planDeltas,
} from '../../../datapath/protocol/delta.js';
import { AgentError } from '../../../datapath/errors.js';
import type { ChunkRef, Manifest } from '../../../datapath/protocol/manifest.js';

const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

function fileManifest(id: string, data: Buffer, chunker = new Chunker()): Manifest {
  let off = 0;
  const chunks: ChunkRef[] = chunker.split(data).map((n) => {
    const c = data.subarray(off, off + n);
    off += n;
    return [sha(c), n];
  });
  return {
    version: 1,
    id,
    volume: 'v',
    parent: null,
    full: false,
    createdAt: new Date(0).toISOString(),
    hash: 'sha256',
    chunker: { min: chunker.min, avg: chunker.avg, max: chunker.max },
    rootMode: 0o755,
    entries: [{ path: 'db', type: 'file', mode: 0o644, size: data.length, mtimeMs: 0, chunks }],
  };
}

/** Encodes every changed chunk of `next` against `prev` and checks it rebuilds; returns delta bytes. */
function roundTrip(prevData: Buffer, nextData: Buffer): { deltaBytes: number; chunks: number } {
  const prev = fileManifest('a', prevData);
  const next = fileManifest('b', nextData);
  const prevSet = new Set((prev.entries[0] as { chunks: ChunkRef[] }).chunks.map(([h]) => h));
  const nextChunks = (next.entries[0] as { chunks: ChunkRef[] }).chunks;
  const wanted = new Set(nextChunks.map(([h]) => h).filter((h) => !prevSet.has(h)));
  const plan = planDeltas(next, prev, wanted);
  let deltaBytes = 0;
  let off = 0;
  for (const [h, len] of nextChunks) {
    const raw = nextData.subarray(off, off + len);
    off += len;
    if (!wanted.has(h)) continue;
    const cand = plan.get(h);
    if (!cand) {
      deltaBytes += len; // no parent chunk overlaps (e.g. beyond the old end of the file)
      continue;
    }
    const bases = cand.bases.map((b) => ({
      hash: b.hash,
      offset: b.offset,
      raw: prevData.subarray(b.offset, b.offset + b.length),
    }));
    const d = encodeDelta(Buffer.from(raw), cand.offset, bases);
    if (!d) {
      deltaBytes += len;
      continue;
    }
    const names = deltaBases(d, h);
    const rebuilt = applyDelta(
      d,
      names.map((n) => bases.find((b) => b.hash === n)?.raw as Buffer),
      len,
      h,
    );
    expect(rebuilt.equals(raw)).toBe(true);
    deltaBytes += d.length;
  }
  return { deltaBytes, chunks: wanted.size };
}

describe('sub-chunk deltas', () => {
  const data = crypto.randomBytes(4 << 20);

  it('sends about one 4 KiB block per in-place page write', () => {
    const next = Buffer.from(data);
    const pages = [17, 300, 301, 555, 900];
    for (const p of pages) crypto.randomBytes(4096).copy(next, p * 4096);
    const { deltaBytes } = roundTrip(data, next);
    expect(deltaBytes).toBeGreaterThanOrEqual(pages.length * 4096);
    expect(deltaBytes).toBeLessThan(pages.length * 4096 + 2048);
  });

  it('deltas across a moved chunk boundary against both neighbours', () => {
    // overwrite the page holding the first boundary, which moves it
    const chunker = new Chunker();
    const first = chunker.split(data)[0] as number;
    const next = Buffer.from(data);
    const page = Math.floor((first - 1) / 4096);
    crypto.randomBytes(4096).copy(next, page * 4096);
    const { deltaBytes } = roundTrip(data, next);
    expect(deltaBytes).toBeLessThan(3 * 4096);
  });

  it('deltas an append against the old tail chunk', () => {
    const next = Buffer.concat([data, crypto.randomBytes(100_000)]);
    const { deltaBytes } = roundTrip(data, next);
    expect(deltaBytes).toBeLessThan(100_000 + 8192);
  });

  it('gives up (null) when nothing matches', () => {
    const raw = crypto.randomBytes(65536);
    expect(
      encodeDelta(raw, 0, [{ hash: 'a'.repeat(64), offset: 0, raw: crypto.randomBytes(65536) }]),
    ).toBeNull();
  });

  it('refuses a forged delta whose rebuilt content does not match its hash (422)', () => {
    const base = crypto.randomBytes(65536);
    const raw = Buffer.from(base);
    raw.fill(7, 8192, 12288);
    const d = encodeDelta(raw, 0, [{ hash: sha(base), offset: 0, raw: base }]) as Buffer;
    expect(applyDelta(d, [base], raw.length, sha(raw)).equals(raw)).toBe(true);
    const forged = Buffer.from(d);
    const lit = forged.indexOf(Buffer.alloc(4096, 7));
    if (lit >= 0) forged[lit] = 8;
    expect(() => applyDelta(forged, [base], raw.length, sha(raw))).toThrow(AgentError);
    try {
      applyDelta(d, [base], raw.length, 'b'.repeat(64));
    } catch (err) {
      expect((err as AgentError).status).toBe(422);
      expect((err as AgentError).code).toBe('hash_mismatch');
    }
    expect(() => applyDelta(d, [base], raw.length, 'b'.repeat(64))).toThrow(/hashing to/);
  });

  it('refuses malformed deltas: copy beyond the base, too many bases, truncated ops, overlong output', () => {
    const base = crypto.randomBytes(1000);
    const copy = (off: number, len: number): Buffer => {
      const b = Buffer.alloc(2 + 32 + 10);
      b[0] = 2;
      b[1] = 1;
      b.write(sha(base), 2, 'hex');
      b[34] = 0;
      b[35] = 0;
      b.writeUInt32BE(off, 36);
      b.writeUInt32BE(len, 40);
      return b;
    };
    const h = sha(base);
    expect(applyDelta(copy(0, 1000), [base], 1000, h).equals(base)).toBe(true);
    expect(() => applyDelta(copy(500, 501), [base], 1000, h)).toThrow(/beyond base/);
    expect(() => applyDelta(copy(0, 1000), [base], 999, h)).toThrow(/more than the declared/);
    expect(() => applyDelta(copy(0, 1000).subarray(0, 40), [base], 1000, h)).toThrow(/truncated/);
    const many = Buffer.alloc(2 + 9 * 32);
    many[0] = 2;
    many[1] = 9;
    expect(() => deltaBases(many, h)).toThrow(/base chunks/);
    const zero = Buffer.from(many);
    zero[1] = 0;
    expect(() => deltaBases(zero, h)).toThrow(/base chunks/);
    const bad = Buffer.concat([copy(0, 10), Buffer.from([9])]);
    expect(() => applyDelta(bad, [base], 1000, h)).toThrow(/unknown op/);
  });
});

describe('BaseFile.candidate', () => {
  /** The definition: every base chunk whose range meets [start, end), the first MAX_DELTA_BASES. */
  function overlapping(lens: number[], start: number, end: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let at = 0;
    for (const len of lens) {
      if (at < end && at + len > start && out.length < MAX_DELTA_BASES) out.push([at, len]);
      at += len;
    }
    return out;
  }

  it('names exactly the base chunks a range overlaps, at their offsets', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 40 }),
        fc.nat(1200),
        fc.integer({ min: 1, max: 600 }),
        (lens, start, len) => {
          const chunks: ChunkRef[] = lens.map((n, i) => [`h${i}`, n]);
          const got = new BaseFile(chunks).candidate(start, start + len);
          const want = overlapping(lens, start, start + len);
          if (want.length === 0) return got === null;
          expect(got?.offset).toBe(start);
          expect(got?.bases.map((b) => [b.offset, b.length])).toEqual(want);
          const at = new Map<number, string>();
          let off = 0;
          for (const [h, n] of chunks) {
            at.set(off, h);
            off += n;
          }
          expect(got?.bases.map((b) => b.hash)).toEqual(want.map(([o]) => at.get(o)));
          return true;
        },
      ),
    );
  });

  it.each([
    ['inside one chunk', [10, 10, 10], 12, 15, [[10, 10]]],
    [
      'across a boundary',
      [10, 10, 10],
      8,
      12,
      [
        [0, 10],
        [10, 10],
      ],
    ],
    ['starting on a boundary', [10, 10, 10], 10, 20, [[10, 10]]],
    ['past the end', [10, 10], 25, 30, []],
  ])('%s', (_name, lens, start, end, want) => {
    const got = new BaseFile((lens as number[]).map((n, i) => [`h${i}`, n])).candidate(start, end);
    expect(got?.bases.map((b) => [b.offset, b.length]) ?? []).toEqual(want);
  });
});
