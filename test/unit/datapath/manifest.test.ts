import { CHUNK_MAX } from '../../../datapath/store/chunker.js';
import { AgentError } from '../../../datapath/errors.js';
import { DEFAULT_LIMITS } from '../../../datapath/protocol/limits.js';
import {
  chunksOutside,
  shareChunkLists,
  symlinkEscape,
  validateManifest,
  wireManifest,
  type Entry,
  type Manifest,
} from '../../../datapath/protocol/manifest.js';
import { manifest } from './manifests.js';

const H = 'a'.repeat(64);

const good = [
  { path: 'dir', type: 'dir', mode: 0o755 },
  { path: 'dir/file', type: 'file', mode: 0o644, size: 10, mtimeMs: 1, chunks: [[H, 10]] },
  { path: 'dir/link', type: 'symlink', target: 'file' },
  { path: 'up', type: 'symlink', target: 'dir/../dir/file' },
  { path: 'empty', type: 'file', mode: 0o600, size: 0, mtimeMs: 1, chunks: [] },
];

function refusal(m: unknown, limits = DEFAULT_LIMITS): AgentError {
  try {
    validateManifest(m, limits);
  } catch (err) {
    if (err instanceof AgentError) return err;
    throw err;
  }
  throw new Error('manifest was accepted');
}

describe('validateManifest', () => {
  it('accepts a well-formed manifest and drops unknown fields', () => {
    const m = validateManifest(
      manifest([...good.slice(0, 1), { ...good[1], extra: 'x', stat: { ino: '1' } }, ...good.slice(2)]),
      DEFAULT_LIMITS,
    );
    expect(m.entries).toHaveLength(5);
    expect(m.entries[1]).toEqual({
      path: 'dir/file',
      type: 'file',
      mode: 0o644,
      size: 10,
      mtimeMs: 1,
      chunks: [[H, 10]],
    });
  });

  const hostile: Array<[string, unknown[], number, RegExp]> = [
    [
      'a .. segment',
      [{ path: '../etc/passwd', type: 'file', mode: 0o644, size: 0, mtimeMs: 0, chunks: [] }],
      400,
      /'\.\.' segment/,
    ],
    [
      'a .. in the middle',
      [
        { path: 'a', type: 'dir', mode: 0o755 },
        { path: 'a/../../x', type: 'dir', mode: 0o755 },
      ],
      400,
      /'\.\.' segment/,
    ],
    [
      'an absolute path',
      [{ path: '/etc/passwd', type: 'file', mode: 0o644, size: 0, mtimeMs: 0, chunks: [] }],
      400,
      /is absolute/,
    ],
    ['an empty segment', [{ path: 'a//b', type: 'dir', mode: 0o755 }], 400, /empty segment/],
    ['a dot segment', [{ path: './a', type: 'dir', mode: 0o755 }], 400, /'\.' segment/],
    ['a NUL byte', [{ path: 'a\0b', type: 'dir', mode: 0o755 }], 400, /NUL/],
    ['a character device', [{ path: 'dev', type: 'chardev', mode: 0o644 }], 400, /device files.*refused/],
    ['a block device', [{ path: 'sda', type: 'blockdev', mode: 0o644 }], 400, /only file, dir and symlink/],
    ['a fifo', [{ path: 'p', type: 'fifo' }], 400, /only file, dir and symlink/],
    [
      'a symlink escaping with ..',
      [{ path: 'l', type: 'symlink', target: '../outside' }],
      400,
      /escapes the volume/,
    ],
    [
      'a symlink escaping from a subdir',
      [
        { path: 'd', type: 'dir', mode: 0o755 },
        { path: 'd/l', type: 'symlink', target: '../../x' },
      ],
      400,
      /escapes the volume/,
    ],
    [
      'an absolute symlink',
      [{ path: 'l', type: 'symlink', target: '/etc/shadow' }],
      400,
      /target is absolute/,
    ],
    [
      'a symlink escaping through another symlink',
      [
        { path: 'd', type: 'dir', mode: 0o755 },
        { path: 'd/e', type: 'dir', mode: 0o755 },
        { path: 'd/e/deep', type: 'symlink', target: '..' },
        { path: 'sneaky', type: 'symlink', target: 'd/e/deep/../../x' },
      ],
      400,
      /escapes the volume/,
    ],
    [
      'a symlink loop',
      [
        { path: 'a', type: 'symlink', target: 'b' },
        { path: 'b', type: 'symlink', target: 'a/x' },
      ],
      400,
      /loop/,
    ],
    [
      'a file under a symlink',
      [
        { path: 'l', type: 'symlink', target: 'd' },
        { path: 'l/f', type: 'dir', mode: 0o755 },
      ],
      400,
      /not a directory listed earlier/,
    ],
    [
      'a child before its parent',
      [
        { path: 'd/f', type: 'dir', mode: 0o755 },
        { path: 'd', type: 'dir', mode: 0o755 },
      ],
      400,
      /not a directory listed earlier/,
    ],
    [
      'a duplicate path',
      [
        { path: 'd', type: 'dir', mode: 0o755 },
        { path: 'd', type: 'dir', mode: 0o755 },
      ],
      400,
      /duplicate/,
    ],
    ['a mode with file-type bits', [{ path: 'd', type: 'dir', mode: 0o40755 }], 400, /mode/],
    [
      'a bad chunk hash',
      [{ path: 'f', type: 'file', mode: 0o644, size: 1, mtimeMs: 0, chunks: [['xyz', 1]] }],
      400,
      /must be \[64 hex digits, positive length\]/,
    ],
    [
      'chunk lengths not adding up',
      [{ path: 'f', type: 'file', mode: 0o644, size: 5, mtimeMs: 0, chunks: [[H, 4]] }],
      400,
      /add up to 4/,
    ],
    [
      'an oversize chunk',
      [
        {
          path: 'f',
          type: 'file',
          mode: 0o644,
          size: CHUNK_MAX + 1,
          mtimeMs: 0,
          chunks: [[H, CHUNK_MAX + 1]],
        },
      ],
      413,
      /exceeds the chunk limit/,
    ],
    [
      'an oversize file',
      [{ path: 'f', type: 'file', mode: 0o644, size: 2 ** 50, mtimeMs: 0, chunks: [] }],
      413,
      /exceeds the limit/,
    ],
    ['an overlong path', [{ path: 'x'.repeat(5000), type: 'dir', mode: 0o755 }], 413, /longer than 4096/],
  ];
  it.each(hostile)('refuses %s', (_name, entries, status, message) => {
    const err = refusal(manifest(entries));
    expect(err.status).toBe(status);
    expect(err.message).toMatch(message);
    expect(err.retryable).toBe(false);
  });

  it('refuses too many entries', () => {
    const err = refusal(manifest(good), { ...DEFAULT_LIMITS, maxEntries: 3 });
    expect(err.status).toBe(413);
    expect(err.message).toMatch(/5 entries exceed the limit of 3/);
  });

  it.each([
    ['not an object', 'nope', /JSON object/],
    ['wrong version', manifest([], { version: 2 }), /version/],
    ['a bad id', manifest([], { id: '../x' }), /id/],
    ['a bad volume', manifest([], { volume: '..' }), /volume/],
    ['another hash', manifest([], { hash: 'md5' }), /^hash "md5": must be one of sha256, blake3$/],
    ['no hash', manifest([], { hash: undefined }), /^hash undefined: must be one of sha256, blake3$/],
    ['entries not an array', manifest([], { entries: {} }), /entries must be an array/],
  ])('refuses %s', (_n, m, message) => {
    expect(refusal(m).message).toMatch(message);
  });

  it.each(['sha256', 'blake3'])('keeps the hash a manifest names (%s)', (hash) => {
    expect(validateManifest(manifest(good, { hash }), DEFAULT_LIMITS).hash).toBe(hash);
  });

  it('wireManifest strips source-side stat identities', () => {
    const m = validateManifest(manifest(good), DEFAULT_LIMITS) as Manifest;
    (m.entries[1] as Entry & { stat?: unknown }).stat = { ino: '1', mtimeNs: '2', ctimeNs: '3' };
    expect(JSON.stringify(wireManifest(m))).not.toContain('mtimeNs');
  });
});

describe('symlinkEscape', () => {
  const tree = new Map<string, Entry>([
    ['a', { path: 'a', type: 'dir', mode: 0o755 }],
    ['a/b', { path: 'a/b', type: 'dir', mode: 0o755 }],
    ['a/up', { path: 'a/up', type: 'symlink', target: '..' }],
  ]);
  it.each([
    ['a/b/l', '../../x', null],
    ['a/b/l', '../../../x', 'escapes the volume'],
    ['l', 'a/up/a/up/x', null],
    ['l', 'a/up/..', 'escapes the volume'],
    ['a/l', 'b/./../b', null],
    ['l', '/abs', 'is absolute'],
  ])('%s -> %s', (link, target, expected) => {
    expect(symlinkEscape(tree, link, target)).toBe(expected);
  });
});

describe('shareChunkLists', () => {
  it("gives each file with the same chunks at the same path the base's list object, and only those", () => {
    const B = 'b'.repeat(64);
    const file = (p: string, chunks: unknown[]): unknown => ({
      path: p,
      type: 'file',
      mode: 0o644,
      size: 10,
      mtimeMs: 1,
      chunks,
    });
    // read from disk: equal content, distinct objects
    const base = manifest([
      file('same', [
        [H, 5],
        [B, 5],
      ]),
      file('changed', [[H, 10]]),
      file('moved', [[B, 10]]),
    ]) as unknown as Manifest;
    const next = JSON.parse(
      JSON.stringify(
        manifest([
          file('same', [
            [H, 5],
            [B, 5],
          ]),
          file('changed', [[B, 10]]),
          file('elsewhere', [[B, 10]]),
        ]),
      ),
    ) as Manifest;
    const lists = (m: Manifest): unknown[] => m.entries.map((e) => (e.type === 'file' ? e.chunks : null));
    const [same, changed, elsewhere] = lists(next);
    shareChunkLists(base, next);
    const after = lists(next);
    expect(after[0]).toBe(lists(base)[0]);
    expect(after[0]).not.toBe(same);
    expect([after[1], after[2]]).toEqual([changed, elsewhere]);
    expect(after[1]).toBe(changed); // other chunks: its own list
    expect(after[2]).toBe(elsewhere); // another path: its own list
  });
});

describe('chunksOutside', () => {
  const hex = (c: string): string => c.repeat(64);
  const file = (p: string, chunks: Array<[string, number]>): Entry =>
    ({
      path: p,
      type: 'file',
      mode: 0o644,
      size: chunks.reduce((n, [, l]) => n + l, 0),
      mtimeMs: 1,
      chunks,
    }) as Entry;

  it('leaves out the chunks of lists shared with the base, and only those', () => {
    const shared: Array<[string, number]> = [
      [hex('a'), 5],
      [hex('b'), 5],
    ];
    const base = manifest([file('kept', shared), file('old', [[hex('c'), 7]])]) as unknown as Manifest;
    const next = manifest([
      file('kept', shared), // the same list object: held by the base
      file('touched', [
        [hex('a'), 5],
        [hex('b'), 5],
      ]), // equal content, another list: counted
      file('new', [
        [hex('d'), 3],
        [hex('a'), 5],
      ]),
      { path: 'dir', type: 'dir', mode: 0o755 },
    ]) as unknown as Manifest;
    expect([...chunksOutside(next, base)].sort()).toEqual([
      [hex('a'), 5],
      [hex('b'), 5],
      [hex('d'), 3],
    ]);
    const onlyShared = manifest([file('kept', shared)]) as unknown as Manifest;
    expect(chunksOutside(onlyShared, base).size).toBe(0);
    expect([...chunksOutside(onlyShared)].sort()).toEqual(shared);
  });
});
