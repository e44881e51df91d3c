import crypto from 'node:crypto';
import { AgentError } from '../../../datapath/errors.js';
import { DEFAULT_LIMITS } from '../../../datapath/protocol/limits.js';
import type { ChunkRef, Entry, Manifest } from '../../../datapath/protocol/manifest.js';
import { validateManifest } from '../../../datapath/protocol/manifest.js';
import {
  applyManifestDelta,
  diffManifest,
  isManifestDelta,
} from '../../../datapath/protocol/manifest-delta.js';
import { manifest as baseManifest } from './manifests.js';

const h = (s: string): string => crypto.createHash('sha256').update(s).digest('hex');

function manifest(id: string, entries: Entry[]): Manifest {
  return baseManifest(entries, { id }) as unknown as Manifest;
}

function file(p: string, chunks: ChunkRef[], extra: Partial<Entry> = {}): Entry {
  return {
    path: p,
    type: 'file',
    mode: 0o644,
    size: chunks.reduce((a, c) => a + c[1], 0),
    mtimeMs: 1000,
    chunks,
    ...extra,
  } as Entry;
}

const big: ChunkRef[] = Array.from({ length: 200 }, (_, i) => [h(`big-${i}`), 1000 + i]);
const base = manifest('snap-1', [
  { path: 'a', type: 'dir', mode: 0o755 },
  file('a/one', [[h('one'), 10]]),
  file('a/two', [[h('two'), 20]]),
  { path: 'link', type: 'symlink', target: 'a/one' },
  file('big', big),
  file('gone', [[h('gone'), 5]]),
]);

/** Sends `next` as a delta against `base` through JSON, rebuilds and validates it. */
function roundTrip(next: Manifest): { rebuilt: Manifest; bytes: number } {
  const wire = JSON.stringify(diffManifest(base, next));
  const parsed = JSON.parse(wire) as Record<string, unknown>;
  expect(isManifestDelta(parsed)).toBe(true);
  const rebuilt = validateManifest(
    applyManifestDelta(parsed, base, DEFAULT_LIMITS),
    DEFAULT_LIMITS,
    new Set(base.entries),
  );
  return { rebuilt, bytes: wire.length };
}

describe('manifest deltas', () => {
  it('an unchanged manifest is a single copy op', () => {
    const next = { ...base, id: 'snap-2', parent: 'snap-1', entries: base.entries };
    const d = diffManifest(base, next);
    expect(d.ops).toEqual([base.entries.length]);
    const { rebuilt } = roundTrip(next);
    expect(rebuilt).toEqual(validateManifest(next, DEFAULT_LIMITS));
  });

  it('rebuilds touched, edited, added, removed and retyped entries exactly, sending only the changes', () => {
    const edited = big.map((c, i) => (i % 50 === 7 ? ([h(`new-${i}`), c[1]] as ChunkRef) : c));
    edited.push([h('appended'), 77]);
    const next = manifest('snap-2', [
      { path: 'a', type: 'dir', mode: 0o700 },
      file('a/one', [[h('one'), 10]], { mtimeMs: 2000 }), // touched
      { path: 'a/three', type: 'symlink', target: 'one' }, // added
      { path: 'a/two', type: 'dir', mode: 0o755 }, // file → dir
      file('a/two/inner', [[h('inner'), 3]]),
      { path: 'link', type: 'symlink', target: 'big' },
      file('big', edited, { stat: { ino: '1', mtimeNs: '2', ctimeNs: '3' } } as Partial<Entry>),
    ]);
    const { rebuilt, bytes } = roundTrip(next);
    expect(rebuilt).toEqual(validateManifest(next, DEFAULT_LIMITS));
    expect(bytes).toBeLessThan(JSON.stringify(next).length / 4);
    // stat identities never leave the source
    expect(JSON.stringify(diffManifest(base, next))).not.toContain('ctimeNs');
  });

  it('refuses ops that run past the base, unknown op shapes and fields the entry type lacks', () => {
    const header = diffManifest(base, base);
    const bad = (ops: unknown[]): AgentError => {
      try {
        applyManifestDelta({ ...header, ops } as unknown as Record<string, unknown>, base, DEFAULT_LIMITS);
      } catch (err) {
        return err as AgentError;
      }
      throw new Error('accepted');
    };
    expect(bad([base.entries.length + 1]).message).toMatch(/runs past the 6 entries of base snap-1/);
    expect(bad([-7]).message).toMatch(/runs past/);
    expect(bad([6, { p: {} }]).message).toMatch(/runs past/);
    expect(bad([1.5]).message).toMatch(/non-zero integer/);
    expect(bad([0]).message).toMatch(/non-zero integer/);
    expect(bad(['x']).message).toMatch(/must be a count/);
    expect(bad([{ e: {}, p: {} }]).message).toMatch(/must be a count/);
    expect(bad([{ p: { t: 5 } }]).message).toMatch(/not a field a patch of a dir entry may set/);
    expect(bad([4, { p: { c: [999] } }]).message).toMatch(/runs past the 200 chunks/);
    expect(bad([{ p: { path: '../x' } }]).status).toBe(400);
    expect(bad([{ p: { zz: 1 } }])).toBeInstanceOf(AgentError);
  });

  it('a rebuilt manifest goes through the same validation as a whole one', () => {
    const header = diffManifest(base, base);
    const rebuild = (ops: unknown[]): unknown =>
      validateManifest(
        applyManifestDelta({ ...header, ops } as unknown as Record<string, unknown>, base, DEFAULT_LIMITS),
        DEFAULT_LIMITS,
        new Set(base.entries), // as the agent does: copied base entries are not re-validated field by field
      );
    expect(() => rebuild([6, { e: file('../escape', [[h('x'), 1]]) }])).toThrow(/'\.\.' segment/);
    expect(() => rebuild([6, { e: file('a/one', [[h('x'), 1]]) }])).toThrow(/duplicate path/);
    expect(() => rebuild([3, { p: { l: '../../etc' } }, 2])).toThrow(/escapes the volume/);
    expect(() => rebuild([4, { p: { s: 1 } }, 1])).toThrow(/chunk lengths add up/);
    expect(() => rebuild([-1, 5])).toThrow(/parent "a" is not a directory/);
    expect(() => rebuild([{ e: file('a', [[h('x'), 1]]) }, -1, 5])).toThrow(/parent "a" is not a directory/);
    expect(() => rebuild([2, { e: { path: 'a/two', type: 'dir', mode: 0o755 } }, -1, 3])).not.toThrow();
    expect(() => rebuild([6, 1])).toThrow(/runs past/);
    expect(() => rebuild([{ e: { path: 'dev', type: 'chardev' } }])).toThrow(/only file, dir and symlink/);
  });
});
