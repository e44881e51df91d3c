import type { FileEntry, Manifest } from '../../../datapath/protocol/manifest.js';
import { PATCH_MIN_BYTES } from '../../../datapath/protocol/limits.js';
import { filesToPatch, patchPlan } from '../../../datapath/protocol/patch.js';
import { partialPages } from '../../../datapath/destination/tree.js';
import { manifest } from './manifests.js';

const K = 64 * 1024;
const h = (c: string): string => c.repeat(64);

/** A file of 64 KiB chunks named by the letters of `chunks` ('a' → hash aaaa…). */
function file(path: string, chunks: string, last = K): FileEntry {
  const refs = [...chunks].map((c, i): [string, number] => [h(c), i === chunks.length - 1 ? last : K]);
  return {
    path,
    type: 'file',
    mode: 0o644,
    size: refs.reduce((a, [, n]) => a + n, 0),
    mtimeMs: 0,
    chunks: refs,
  };
}

describe('patchPlan', () => {
  const big = 'abcdefghijklmnopqrst'; // 20 chunks = 1.25 MiB
  it.each([
    ['one chunk edited', big.replace('c', 'X'), [[h('X'), K, 2 * K]]],
    [
      'appended',
      `${big}YZ`,
      [
        [h('Y'), K, 20 * K],
        [h('Z'), K, 21 * K],
      ],
    ],
    ['truncated (nothing to write, a copy and a truncate)', big.slice(0, 17), []],
    [
      'half changed still patches',
      `${big.slice(0, 10)}${'X'.repeat(10)}`,
      [...'X'.repeat(10)].map((_, i) => [h('X'), K, (10 + i) * K]),
    ],
    ['more than half changed', `${big.slice(0, 9)}${'X'.repeat(11)}`, null],
    ['an insert shifts every later offset', `X${big}`, null],
  ])('%s', (_name, next, want) => {
    expect(patchPlan(file('f', big), file('f', next))).toEqual(want);
  });

  it('a file below PATCH_MIN_BYTES is never patched', () => {
    const small = 'abcdefghij'; // 640 KiB
    expect(10 * K).toBeLessThan(PATCH_MIN_BYTES);
    expect(patchPlan(file('f', small), file('f', small.replace('c', 'X')))).toBeNull();
  });

  it('a chunk of the same hash but another length at an offset is a change', () => {
    expect(patchPlan(file('f', big), file('f', big, 100))).toEqual([[h('t'), 100, 19 * K]]);
  });
});

describe('filesToPatch', () => {
  const big = 'abcdefghijklmnopqrst';
  const m = (entries: unknown[]): Manifest => manifest(entries) as unknown as Manifest;
  it('names changed files worth patching, largest first, and nothing else', () => {
    const base = m([
      file('same', big),
      file('edited', big),
      file('grown', big),
      file('rewritten', big),
      file('small', 'abc'),
      file('gone', big),
      file('was-small', 'abcdefghij'),
      { path: 'dir', type: 'dir', mode: 0o755 },
    ]);
    const next = m([
      file('same', big),
      file('edited', big.replace('k', 'X')),
      file('grown', `${big}XYZW`),
      file('rewritten', 'X'.repeat(20)),
      file('small', 'abX'),
      file('new', big),
      file('was-small', `abcdefghij${'X'.repeat(10)}`),
      { path: 'dir', type: 'dir', mode: 0o700 },
    ]);
    expect(filesToPatch(base, next)).toEqual([
      { path: 'grown', size: 24 * K },
      { path: 'edited', size: 20 * K },
    ]);
  });

  it('a file with the same chunks and a new mtime is named: the destination cannot link it, it patches a copy', () => {
    const touched = { ...file('db', big), mtimeMs: 1 };
    expect(patchPlan(file('db', big), touched)).toEqual([]);
    expect(filesToPatch(m([file('db', big)]), m([touched]))).toEqual([{ path: 'db', size: 20 * K }]);
    expect(filesToPatch(m([file('db', big)]), m([file('db', big)]))).toEqual([]);
  });

  it('a path that was not a file before is not named', () => {
    const base = m([{ path: 'x', type: 'dir', mode: 0o755 }]);
    expect(filesToPatch(base, m([file('x', big)]))).toEqual([]);
  });
});

describe('partialPages: the pages a patch writes only in part (read into the cache first)', () => {
  const P = 4096;
  it.each([
    ['aligned chunks', [[h('a'), 2 * P, P]], 10 * P, []],
    ['a chunk inside one page', [[h('a'), 100, P + 10]], 10 * P, [P]],
    ['a chunk over three pages', [[h('a'), 2 * P, P + 10]], 10 * P, [P, 3 * P]],
    [
      'adjacent chunks share their edge page once',
      [
        [h('a'), P, 10],
        [h('b'), P, P + 10],
      ],
      10 * P,
      [0, P, 2 * P],
    ],
    ['an edge past the old size is not read', [[h('a'), P, 9 * P + 10]], 9 * P + 20, [9 * P]],
    ['a chunk wholly past the old size', [[h('a'), 100, 20 * P + 1]], 10 * P, []],
  ] as Array<[string, Array<[string, number, number]>, number, number[]]>)(
    '%s',
    (_, changed, size, pages) => {
      expect(partialPages(changed, size)).toEqual(pages);
    },
  );
});
