// Manifest deltas: committing a snapshot by sending only how its manifest differs from a restore
// point the destination already holds (normally its current one, the parent snapshot).
//
// Why: a manifest lists every entry and every chunk hash of the volume; for 10,000 files and a large
// database file it is ~1.4 MiB even compressed (hashes do not compress), which dominated the bytes
// and time of an unchanged or metadata-only replication.
//
// Form (JSON, the manifest's header fields plus):
//   { "base": "<restore point id>", "ops": [...] }    instead of "entries"
// ops rebuild the entry list in order, walking the base's entries with a cursor:
//   n > 0          copy the next n base entries unchanged
//   n < 0          skip the next -n base entries (removed)
//   {"e": entry}   insert a whole entry (added, or replaced by one of another type)
//   {"p": patch}   the next base entry, with fields replaced: m = mode, t = mtimeMs, s = size,
//                  l = symlink target, c = chunk ops over the base entry's chunk list, which are
//                  n > 0 copy, n < 0 skip, [hash, length] insert
// The destination rebuilds the full manifest from the base it holds (ops that run past the base,
// patches of fields the base entry's type lacks, unknown keys: 400 invalid_manifest) and then
// validates the result exactly like a whole manifest (paths, '..', parents, symlink escapes, sizes),
// so a delta can express nothing a whole manifest could not. A base the destination does not hold
// is refused with 409 unknown_base; the sender then sends the whole manifest.
import { AgentError, invalidManifest, tooLarge } from '../errors.js';
import { type ChunkRef, type Entry, type Manifest, sameChunks } from './manifest.js';
import type { Limits } from './limits.js';

export type EntryOp = number | { e: Entry } | { p: EntryPatch };
export interface EntryPatch {
  m?: number;
  t?: number;
  s?: number;
  l?: string;
  c?: ChunkOp[];
}
export type ChunkOp = number | ChunkRef;

export interface ManifestDelta extends Omit<Manifest, 'entries'> {
  base: string;
  ops: EntryOp[];
}

export function isManifestDelta(v: unknown): boolean {
  return typeof v === 'object' && v !== null && 'base' in v && 'ops' in v;
}

function push<T>(ops: Array<number | T>, n: number): void {
  const last = ops[ops.length - 1];
  if (typeof last === 'number' && Math.sign(last) === Math.sign(n)) ops[ops.length - 1] = last + n;
  else ops.push(n);
}

function wireEntry(e: Entry): Entry {
  if (e.type !== 'file' || !e.stat) return e;
  const { stat: _stat, ...rest } = e;
  return rest;
}

/** True when two entries describe the same thing (source-side stat identities ignored). */
export function sameEntry(a: Entry, b: Entry): boolean {
  if (a.path !== b.path || a.type !== b.type) return false;
  if (a.type === 'dir') return a.mode === (b as typeof a).mode;
  if (a.type === 'symlink') return a.target === (b as typeof a).target;
  const f = b as typeof a;
  return a.mode === f.mode && a.size === f.size && a.mtimeMs === f.mtimeMs && sameChunks(a.chunks, f.chunks);
}

function diffChunks(base: ChunkRef[], next: ChunkRef[]): ChunkOp[] {
  const at = new Map<string, number[]>();
  base.forEach(([h], i) => {
    const l = at.get(h);
    if (l) l.push(i);
    else at.set(h, [i]);
  });
  const cursor = new Map<string, number>();
  const ops: ChunkOp[] = [];
  let ptr = 0;
  for (const c of next) {
    const list = at.get(c[0]);
    let j = -1;
    if (list) {
      let k = cursor.get(c[0]) ?? 0;
      while (k < list.length && (list[k] as number) < ptr) k++;
      cursor.set(c[0], k);
      if (k < list.length && (base[list[k] as number] as ChunkRef)[1] === c[1]) j = list[k] as number;
    }
    if (j >= 0) {
      if (j > ptr) push(ops, -(j - ptr));
      push(ops, 1);
      ptr = j + 1;
    } else ops.push([c[0], c[1]]);
  }
  return ops;
}

/** The delta that rebuilds `next`'s entries from `base`'s (both in walk order). */
export function diffManifest(base: Manifest, next: Manifest): ManifestDelta {
  const index = new Map<string, number>();
  base.entries.forEach((e, i) => index.set(e.path, i));
  const ops: EntryOp[] = [];
  let ptr = 0;
  for (const e of next.entries) {
    const j = index.get(e.path);
    const b = j !== undefined ? base.entries[j] : undefined;
    if (j === undefined || j < ptr || !b || b.type !== e.type) {
      ops.push({ e: wireEntry(e) });
      continue;
    }
    if (j > ptr) push(ops, -(j - ptr));
    ptr = j + 1;
    if (sameEntry(b, e)) {
      push(ops, 1);
      continue;
    }
    const p: EntryPatch = {};
    if (e.type === 'symlink') p.l = e.target;
    else {
      if (e.mode !== (b as typeof e).mode) p.m = e.mode;
      if (e.type === 'file' && b.type === 'file') {
        if (e.mtimeMs !== b.mtimeMs) p.t = e.mtimeMs;
        if (e.size !== b.size) p.s = e.size;
        if (!sameChunks(b.chunks, e.chunks)) p.c = diffChunks(b.chunks, e.chunks);
      }
    }
    ops.push({ p });
  }
  const { entries: _entries, ...header } = next;
  return { ...header, base: base.id, ops };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function count(v: unknown, at: string): number {
  if (!Number.isSafeInteger(v) || v === 0)
    throw invalidManifest(`${at} ${JSON.stringify(v)}: must be a non-zero integer`);
  return v as number;
}

/**
 * Rebuilds an untrusted manifest delta against `base` into a whole manifest object, still to be
 * validated with validateManifest. Throws 400 invalid_manifest / 413 too_large.
 */
export function applyManifestDelta(input: Record<string, unknown>, base: Manifest, limits: Limits): unknown {
  const ops = input.ops;
  if (!Array.isArray(ops)) throw invalidManifest('ops must be an array');
  if (ops.length > limits.maxEntries)
    throw tooLarge(`ops: ${ops.length} ops exceed the limit of ${limits.maxEntries}`);
  const src = base.entries;
  const out: unknown[] = [];
  let ptr = 0;
  const room = (n: number, at: string): void => {
    if (ptr + n > src.length)
      throw invalidManifest(`${at}: runs past the ${src.length} entries of base ${base.id}`);
  };
  ops.forEach((op: unknown, i: number) => {
    const at = `ops[${i}]`;
    if (typeof op === 'number') {
      const n = count(op, at);
      room(Math.abs(n), at);
      if (n > 0) for (let k = 0; k < n; k++) out.push(src[ptr + k]);
      ptr += Math.abs(n);
    } else if (isObject(op) && 'e' in op && Object.keys(op).length === 1) {
      out.push(op.e);
    } else if (isObject(op) && isObject(op.p) && Object.keys(op).length === 1) {
      room(1, at);
      const b = src[ptr++] as Entry;
      out.push(patchEntry(b, op.p, at));
    } else throw invalidManifest(`${at}: must be a count, {"e": entry} or {"p": patch}`);
    if (out.length > limits.maxEntries)
      throw tooLarge(`entries: more than the limit of ${limits.maxEntries}`);
  });
  const { base: _base, ops: _ops, ...header } = input;
  return { ...header, entries: out };
}

function patchEntry(b: Entry, p: Record<string, unknown>, at: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...b };
  for (const [k, v] of Object.entries(p)) {
    if (k === 'm' && b.type !== 'symlink') out.mode = v;
    else if (k === 't' && b.type === 'file') out.mtimeMs = v;
    else if (k === 's' && b.type === 'file') out.size = v;
    else if (k === 'l' && b.type === 'symlink') out.target = v;
    else if (k === 'c' && b.type === 'file') out.chunks = patchChunks(b.chunks, v, `${at}.p.c`);
    else throw invalidManifest(`${at}.p.${k}: not a field a patch of a ${b.type} entry may set`);
  }
  return out;
}

/** Output is bounded by the base's chunks plus the ops (themselves bounded by the body size). */
function patchChunks(base: ChunkRef[], ops: unknown, at: string): unknown[] {
  if (!Array.isArray(ops)) throw invalidManifest(`${at}: must be an array`);
  const out: unknown[] = [];
  let ptr = 0;
  ops.forEach((op: unknown, i: number) => {
    if (typeof op === 'number') {
      const n = count(op, `${at}[${i}]`);
      if (ptr + Math.abs(n) > base.length)
        throw invalidManifest(`${at}[${i}]: runs past the ${base.length} chunks of the base entry`);
      if (n > 0) for (let k = 0; k < n; k++) out.push(base[ptr + k]);
      ptr += Math.abs(n);
    } else out.push(op);
  });
  return out;
}

/** A delta naming a base the destination does not hold: the sender falls back to the whole manifest. */
export function unknownBase(base: unknown): AgentError {
  return new AgentError(
    409,
    'unknown_base',
    `base ${JSON.stringify(base)}: not a restore point of this standby volume; send the whole manifest`,
    false,
  );
}
