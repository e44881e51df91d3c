// Patches that write only what a delta said changed: copyRuns reads a delta's copy ops back,
// KnownRanges turns them into the ranges a patch must write over a given version, and a commit
// after a delta upload writes the changed pages only, with the file byte for byte the new version.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { receiveChunks } from '../../../datapath/destination/receive.js';
import { chunkStarts, KnownRanges } from '../../../datapath/destination/known-ranges.js';
import { StandbyManager } from '../../../datapath/destination/standby.js';
import { applyDelta, copyRuns, deltaBases, encodeDelta } from '../../../datapath/protocol/delta.js';
import { DEFAULT_LIMITS } from '../../../datapath/protocol/limits.js';
import type { Manifest } from '../../../datapath/protocol/manifest.js';
import { frameHeader } from '../../../datapath/protocol/wire.js';
import { ChunkStore } from '../../../datapath/store/chunk-store.js';
import { hashHex } from '../../../datapath/store/hash.js';
import { manifest } from './manifests.js';

const PAGE = 4096;
const CHUNK = 64 * 1024;

/** `raw` with the 4 KiB pages at `pages` (page numbers within it) overwritten with random bytes. */
function withPages(raw: Buffer, pages: readonly number[]): Buffer {
  const out = Buffer.from(raw);
  for (const p of pages) crypto.randomBytes(PAGE).copy(out, p * PAGE);
  return out;
}

describe('copyRuns', () => {
  test.each([
    ['one page in the middle', [5]],
    ['first and last page', [0, 15]],
    ['two neighbours and one apart', [3, 4, 9]],
  ])('%s: the runs are the unchanged pages, bytes of the base at the same offsets', (_n, pages) => {
    const base = crypto.randomBytes(CHUNK);
    const raw = withPages(base, pages);
    const payload = encodeDelta(raw, 3 * CHUNK, [
      { hash: hashHex(base), offset: 3 * CHUNK, raw: base },
    ]) as Buffer;
    const names = deltaBases(payload, hashHex(raw));
    expect(applyDelta(payload, [base], raw.length, hashHex(raw)).equals(raw)).toBe(true);
    const runs = copyRuns(payload, names);
    const copied = new Set<number>();
    for (const r of runs) {
      expect(r.base).toBe(hashHex(base));
      expect(raw.subarray(r.at, r.at + r.len).equals(base.subarray(r.from, r.from + r.len))).toBe(true);
      for (let p = r.at / PAGE; p < (r.at + r.len) / PAGE; p++) copied.add(p);
    }
    const literal = Array.from({ length: CHUNK / PAGE }, (_, p) => p).filter((p) => !copied.has(p));
    expect(literal).toEqual(pages);
  });
});

describe('KnownRanges.toWrite', () => {
  const runs = [
    { at: 0, len: 8192, base: 'aa', from: 4096 },
    { at: 12288, len: 4096, base: 'bb', from: 0 },
  ];
  // The chunk goes at file offset 10000: the first run needs 'aa' to start at 10000 + 0 - 4096,
  // the second 'bb' at 10000 + 12288 - 0.
  test.each<[string, Array<[number, string]>, Array<[number, number]>]>([
    [
      'both bases where the runs say',
      [
        [5904, 'aa'],
        [22288, 'bb'],
      ],
      [
        [8192, 12288],
        [16384, 20000],
      ],
    ],
    [
      'only the second base there',
      [
        [5904, 'zz'],
        [22288, 'bb'],
      ],
      [
        [0, 12288],
        [16384, 20000],
      ],
    ],
    [
      'the first base one page off',
      [
        [10000, 'aa'],
        [22288, 'bb'],
      ],
      [
        [0, 12288],
        [16384, 20000],
      ],
    ],
    ['neither base', [], [[0, 20000]]],
  ])('%s', (_n, starts, want) => {
    const r = new KnownRanges();
    r.add('cc', runs);
    expect(r.toWrite('cc', 10000, 20000, new Map(starts))).toEqual(want);
  });

  test('a chunk nothing is known of is written whole; one fully covered not at all', () => {
    const r = new KnownRanges();
    expect(r.toWrite('dd', 0, 5000, new Map())).toEqual([[0, 5000]]);
    r.add('ee', [{ at: 0, len: 5000, base: 'ff', from: 0 }]);
    expect(r.toWrite('ee', 8192, 5000, new Map([[8192, 'ff']]))).toEqual([]);
  });

  test('bounded: the oldest chunk is forgotten first', () => {
    const r = new KnownRanges(2);
    for (const h of ['a1', 'a2', 'a3']) r.add(h, [{ at: 0, len: 10, base: 'b', from: 0 }]);
    expect(r.size).toBe(2);
    const at = new Map([[0, 'b']]);
    expect(r.toWrite('a1', 0, 10, at)).toEqual([[0, 10]]);
    expect(r.toWrite('a3', 0, 10, at)).toEqual([]);
  });

  test('chunkStarts maps each chunk start to its hash', () => {
    expect([
      ...chunkStarts([
        ['x', 10],
        ['y', 5],
        ['z', 1],
      ]),
    ]).toEqual([
      [0, 'x'],
      [10, 'y'],
      [15, 'z'],
    ]);
  });
});

describe('a commit after a delta upload', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-known-ranges-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function fileManifest(id: string, chunks: Buffer[]): Manifest {
    const size = chunks.reduce((n, c) => n + c.length, 0);
    return manifest(
      [
        {
          path: 'db.bin',
          type: 'file',
          mode: 0o644,
          size,
          mtimeMs: 1_700_000_000_000 + size,
          chunks: chunks.map((c) => [hashHex(c), c.length]),
        },
      ],
      { id },
    ) as unknown as Manifest;
  }

  /** Commits v1, uploads v2's changed chunks as deltas against v1's at the same offsets, commits v2. */
  async function run(tellRanges: boolean): Promise<{ bytesWritten: number; file: Buffer; v2: Buffer }> {
    const store = await ChunkStore.open(path.join(dir, `store-${tellRanges}`), { maxChunkSize: 256 * 1024 });
    const sm = await StandbyManager.open(path.join(dir, `agent-${tellRanges}`), store, {
      fsync: false,
      retain: 3,
    });
    const v1: Buffer[] = Array.from({ length: 24 }, () => crypto.randomBytes(CHUNK));
    for (const c of v1) await store.put(hashHex(c), c);
    await sm.commit('vol', fileManifest('snap-1', v1));
    await sm.settled(); // its garbage collection done: it would take the unpinned chunks received now
    const v2: Buffer[] = [...v1];
    v2[2] = withPages(v1[2]!, [7]);
    v2[9] = withPages(v1[9]!, [0, 1]);
    v2[23] = withPages(v1[23]!, [15]);
    const frames = [2, 9, 23].map((i) => {
      const raw = v2[i]!;
      const d = encodeDelta(raw, i * CHUNK, [
        { hash: hashHex(v1[i]!), offset: i * CHUNK, raw: v1[i]! },
      ]) as Buffer;
      return Buffer.concat([frameHeader(Buffer.from(hashHex(raw), 'hex'), raw.length, d.length), d]);
    });
    const got = await receiveChunks(
      store,
      (async function* () {
        yield Buffer.concat(frames);
      })(),
      { limits: DEFAULT_LIMITS, ...(tellRanges ? { ranges: sm.ranges } : {}) },
    );
    expect(got).toMatchObject({ received: 3, deltas: 3 });
    const res = await sm.commit('vol', fileManifest('snap-2', v2));
    const file = fs.readFileSync(
      path.join(dir, `agent-${tellRanges}`, 'standby', 'vol', 'current', 'db.bin'),
    );
    await store.close();
    return { bytesWritten: res.bytesWritten, file, v2: Buffer.concat(v2) };
  }

  test('writes only the four changed pages, and the file is the new version', async () => {
    const r = await run(true);
    expect(r.file.equals(r.v2)).toBe(true);
    expect(r.bytesWritten).toBe(4 * PAGE);
  });

  test('without what the deltas said, the three changed chunks are written whole', async () => {
    const r = await run(false);
    expect(r.file.equals(r.v2)).toBe(true);
    expect(r.bytesWritten).toBe(3 * CHUNK);
  });
});
