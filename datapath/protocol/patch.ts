// When a changed file is patched rather than rewritten, decided in one place for both sides: the
// destination patches (destination/tree.ts patchFile: copy the previous version, write the
// differing chunks over it) and the source names the same files ahead of the commit so the
// destination copies them early (source/prepare-hints.ts, destination/prepare.ts). Both must agree:
// a copy prepared for a file the commit then rewrites from chunks is wasted device time, and one
// not prepared for a file it patches is copied on the commit's clock.
import type { FileEntry, Manifest } from './manifest.js';
import { PATCH_MIN_BYTES } from './limits.js';

/** A chunk of the new version to write over the copy: [hash, length, offset]. */
export type PatchWrite = [string, number, number];

/**
 * The chunks of `next` to write over a copy of `prev`, or null when patching does not pay: `next`
 * is smaller than PATCH_MIN_BYTES, or fewer than half its bytes are chunks `prev` has at the same
 * offsets (same hash and length).
 */
export function patchPlan(prev: FileEntry, next: FileEntry): PatchWrite[] | null {
  if (next.size < PATCH_MIN_BYTES) return null;
  const prevAt = new Map<number, string>();
  let off = 0;
  for (const [h, len] of prev.chunks) {
    prevAt.set(off, `${h}/${len}`);
    off += len;
  }
  const changed: PatchWrite[] = [];
  let same = 0;
  off = 0;
  for (const [h, len] of next.chunks) {
    if (prevAt.get(off) === `${h}/${len}`) same += len;
    else changed.push([h, len, off]);
    off += len;
  }
  return same * 2 < next.size ? null : changed;
}

/**
 * The files of `next` the destination will patch when it commits `next` over restore point `base`:
 * present as files in both, not the same file (sameFile: a new mode or mtime counts, the link
 * would carry the old one), and worth patching (patchPlan). Largest first, so the copies
 * that take longest start first.
 */
export function filesToPatch(base: Manifest, next: Manifest): Array<{ path: string; size: number }> {
  const before = new Map<string, FileEntry>();
  for (const e of base.entries) if (e.type === 'file' && e.size >= PATCH_MIN_BYTES) before.set(e.path, e);
  const out: Array<{ path: string; size: number }> = [];
  for (const e of next.entries) {
    if (e.type !== 'file' || e.size < PATCH_MIN_BYTES) continue;
    const p = before.get(e.path);
    if (!p || sameFile(p, e)) continue;
    if (patchPlan(p, e)) out.push({ path: e.path, size: e.size });
  }
  return out.sort((a, b) => b.size - a.size || (a.path < b.path ? -1 : 1));
}

/**
 * Whether `b` is `a` unchanged (size, mode, mtime and chunks): the destination then links the
 * previous restore point's file instead of writing or patching one.
 */
export function sameFile(a: FileEntry, b: FileEntry): boolean {
  if (
    a.size !== b.size ||
    a.mode !== b.mode ||
    a.mtimeMs !== b.mtimeMs ||
    a.chunks.length !== b.chunks.length
  )
    return false;
  for (let i = 0; i < a.chunks.length; i++)
    if ((a.chunks[i] as [string, number])[0] !== (b.chunks[i] as [string, number])[0]) return false;
  return true;
}
