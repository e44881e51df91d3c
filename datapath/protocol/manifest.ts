// Snapshot manifests: the point-in-time description of a volume, and the validation every
// manifest received from the network goes through before anything touches the disk.
//
// A manifest lists entries in an order where every entry's parent directory comes before it.
// Entries are regular files (mode, size, mtime, chunk list), directories (mode) and symlinks
// (target) — nothing else: device files, FIFOs and sockets are refused. Paths are relative,
// normalised ('/'-separated, no '', '.' or '..' segments), unique, bounded in length, and their
// parent must be a directory entry of the same manifest (so nothing is ever written through a
// symlink or under a file). Symlink targets must resolve inside the volume, following the
// manifest's own symlinks exactly as the kernel would in the materialised tree.
//
// Source snapshots additionally record `stat` (inode, mtime and ctime in ns) per file, used to
// reuse entries of unchanged files; it is stripped before a manifest leaves the agent.
import { invalidManifest, tooLarge } from '../errors.js';
import { HASH_ALGORITHMS, type HashAlgorithm, isHashAlgorithm, isHashHex } from '../store/hash.js';
import type { Limits } from './limits.js';
import type { ChunkerParams } from '../store/chunker.js';

/** [hex hash of the raw chunk (by the manifest's `hash`), raw length]. */
export type ChunkRef = [string, number];

export interface StatKey {
  ino: string;
  mtimeNs: string;
  ctimeNs: string;
}

export interface FileEntry {
  path: string;
  type: 'file';
  mode: number;
  size: number;
  mtimeMs: number;
  chunks: ChunkRef[];
  /** Source-side only: identity used to reuse this entry when the file is unchanged. */
  stat?: StatKey;
}

export interface DirEntry {
  path: string;
  type: 'dir';
  mode: number;
}

export interface SymlinkEntry {
  path: string;
  type: 'symlink';
  target: string;
}

export type Entry = FileEntry | DirEntry | SymlinkEntry;

export interface Manifest {
  version: 1;
  id: string;
  volume: string;
  parent: string | null;
  full: boolean;
  createdAt: string;
  /** How this snapshot's chunks are named; the same for a volume's whole chain (store/hash.ts). */
  hash: HashAlgorithm;
  chunker: ChunkerParams;
  /** Root directory mode. */
  rootMode: number;
  entries: Entry[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Volume names (volume handles) are single path segments of safe characters. */
export function isVolumeName(value: unknown): value is string {
  return typeof value === 'string' && NAME.test(value) && value !== '.' && value !== '..';
}

/** Whether two chunk lists are the same chunks in the same order. */
export function sameChunks(a: readonly ChunkRef[], b: readonly ChunkRef[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as ChunkRef;
    const y = b[i] as ChunkRef;
    if (x[0] !== y[0] || x[1] !== y[1]) return false;
  }
  return true;
}

/**
 * Makes each file of `next` whose chunks are those of the same path in `base` hold `base`'s list
 * object (refLists counts a shared list once). For manifests read from disk, which share nothing;
 * `next` must not be referenced yet.
 */
export function shareChunkLists(base: Manifest, next: Manifest): void {
  const before = new Map<string, ChunkRef[]>();
  for (const e of base.entries) if (e.type === 'file') before.set(e.path, e.chunks);
  for (const e of next.entries) {
    if (e.type !== 'file') continue;
    const b = before.get(e.path);
    if (b && sameChunks(b, e.chunks)) e.chunks = b;
  }
}

/**
 * For the manifests of one volume read from disk, in the order they were made: each call makes
 * `m` share the previous one's equal lists (shareChunkLists), as they did before the restart, and
 * returns `m`'s lists for ChunkStore.refLists. Without it the first prune after every restart
 * released every chunk one by one.
 */
export function reloadedLists(): (m: Manifest) => Generator<ChunkRef[]> {
  let before: Manifest | undefined;
  return (m) => {
    if (before) shareChunkLists(before, m);
    before = m;
    return chunkLists(m);
  };
}

export function isSnapshotId(value: unknown): value is string {
  return typeof value === 'string' && ID.test(value);
}

/** Each file's chunk list, for references (ChunkStore.refLists). */
export function* chunkLists(m: Manifest): Generator<ChunkRef[]> {
  for (const e of m.entries) if (e.type === 'file') yield e.chunks;
}

/** The distinct chunks a manifest references, hash → raw length, in first-use order. */
export function manifestChunks(m: Manifest): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of m.entries) if (e.type === 'file') for (const [h, n] of e.chunks) out.set(h, n);
  return out;
}

/**
 * The distinct chunks of `m`'s files whose chunk list is not one of `base`'s list objects (all of
 * them without `base`). A list `m` shares with `base` is an unchanged file's (a manifest delta
 * reuses its base's lists): while `base` is kept, its references keep those chunks.
 */
export function chunksOutside(m: Manifest, base?: Manifest): Map<string, number> {
  const held = new Set<readonly ChunkRef[]>();
  if (base) for (const e of base.entries) if (e.type === 'file') held.add(e.chunks);
  const out = new Map<string, number>();
  for (const e of m.entries)
    if (e.type === 'file' && !held.has(e.chunks)) for (const [h, n] of e.chunks) out.set(h, n);
  return out;
}

export function manifestStats(m: Manifest): {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  chunks: number;
} {
  let files = 0;
  let dirs = 0;
  let symlinks = 0;
  let bytes = 0;
  let chunks = 0;
  for (const e of m.entries) {
    if (e.type === 'file') {
      files++;
      bytes += e.size;
      chunks += e.chunks.length;
    } else if (e.type === 'dir') dirs++;
    else symlinks++;
  }
  return { files, dirs, symlinks, bytes, chunks };
}

/** The manifest as sent to another agent: no source-side stat identities. */
export function wireManifest(m: Manifest): Manifest {
  return {
    ...m,
    entries: m.entries.map((e) => {
      if (e.type !== 'file' || !e.stat) return e;
      const { stat: _stat, ...rest } = e;
      return rest;
    }),
  };
}

function describe(value: unknown): string {
  const s = JSON.stringify(value);
  return s === undefined ? String(value) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Why `p` is not an acceptable relative path, or null when it is. */
export function pathProblem(p: unknown, maxLength: number): string | null {
  if (typeof p !== 'string' || p.length === 0) return 'must be a non-empty string';
  if (Buffer.byteLength(p) > maxLength) return `is longer than ${maxLength} bytes`;
  if (p.includes('\0')) return 'contains a NUL byte';
  if (p.startsWith('/')) return 'is absolute';
  for (const seg of p.split('/')) {
    if (seg === '..') return "contains a '..' segment";
    if (seg === '.') return "contains a '.' segment";
    if (seg === '') return 'contains an empty segment';
    if (Buffer.byteLength(seg) > 255) return 'has a segment longer than 255 bytes';
  }
  return null;
}

const MAX_LINK_HOPS = 40;

/**
 * Resolves symlink `linkPath` → `target` against the manifest's tree the way the kernel would,
 * following symlinks found along the way; returns why it escapes the volume, or null.
 */
export function symlinkEscape(entries: Map<string, Entry>, linkPath: string, target: string): string | null {
  if (target.startsWith('/')) return 'is absolute';
  const stack = linkPath.split('/');
  stack.pop();
  let pending = target.split('/');
  let hops = 0;
  while (pending.length > 0) {
    const comp = pending.shift() as string;
    if (comp === '' || comp === '.') continue;
    if (comp === '..') {
      if (stack.length === 0) return 'escapes the volume';
      stack.pop();
      continue;
    }
    stack.push(comp);
    const e = entries.get(stack.join('/'));
    if (e?.type === 'symlink') {
      if (++hops > MAX_LINK_HOPS) return 'is part of a symlink loop';
      if (e.target.startsWith('/')) return `passes through absolute symlink ${describe(e.path)}`;
      stack.pop();
      pending = [...e.target.split('/'), ...pending];
    }
  }
  return null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isMode(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0o7777;
}

/**
 * Validates an untrusted manifest and returns a clean copy (unknown fields dropped). Throws an
 * AgentError naming the offending field and value: 400 invalid_manifest, or 413 too_large for a
 * bound exceeded. Entry objects in `trusted` (those of an already validated manifest, which a
 * manifest delta copies) are taken as they are after checking their path is unique and its parent
 * a directory listed earlier.
 */
export function validateManifest(input: unknown, limits: Limits, trusted?: ReadonlySet<unknown>): Manifest {
  if (!isObject(input)) throw invalidManifest('manifest must be a JSON object');
  if (input.version !== 1)
    throw invalidManifest(`version ${describe(input.version)}: only version 1 is supported`);
  if (!isSnapshotId(input.id)) throw invalidManifest(`id ${describe(input.id)}: must match ${ID.source}`);
  if (!isVolumeName(input.volume))
    throw invalidManifest(`volume ${describe(input.volume)}: must match ${NAME.source}`);
  if (input.parent !== null && input.parent !== undefined && !isSnapshotId(input.parent)) {
    throw invalidManifest(`parent ${describe(input.parent)}: must be a snapshot id or null`);
  }
  if (!isHashAlgorithm(input.hash))
    throw invalidManifest(`hash ${describe(input.hash)}: must be one of ${HASH_ALGORITHMS.join(', ')}`);
  const hash = input.hash;
  const rootMode = input.rootMode ?? 0o755;
  if (!isMode(rootMode))
    throw invalidManifest(`rootMode ${describe(rootMode)}: must be an integer in 0..0o7777`);
  const chunker = input.chunker;
  if (
    !isObject(chunker) ||
    ![chunker.min, chunker.avg, chunker.max].every((n) => Number.isInteger(n) && (n as number) > 0)
  ) {
    throw invalidManifest(`chunker ${describe(chunker)}: must be {min, avg, max} positive integers`);
  }
  if (!Array.isArray(input.entries)) throw invalidManifest('entries must be an array');
  if (input.entries.length > limits.maxEntries) {
    throw tooLarge(`entries: ${input.entries.length} entries exceed the limit of ${limits.maxEntries}`);
  }
  const byPath = new Map<string, Entry>();
  const entries: Entry[] = [];
  const symlinks: SymlinkEntry[] = [];
  input.entries.forEach((raw: unknown, i: number) => {
    const at = `entries[${i}]`;
    if (trusted?.has(raw)) {
      // an entry object of a manifest validated before (a manifest delta's base): its fields are
      // known good; only its place in this manifest (unique path, parent directory) is checked
      const e = raw as Entry;
      if (byPath.has(e.path)) throw invalidManifest(`${at}.path ${describe(e.path)}: duplicate path`);
      const cut = e.path.lastIndexOf('/');
      if (cut >= 0 && byPath.get(e.path.slice(0, cut))?.type !== 'dir') {
        throw invalidManifest(
          `${at}.path ${describe(e.path)}: parent ${describe(e.path.slice(0, cut))} is not a directory listed earlier`,
        );
      }
      byPath.set(e.path, e);
      entries.push(e);
      if (e.type === 'symlink') symlinks.push(e);
      return;
    }
    if (!isObject(raw)) throw invalidManifest(`${at}: must be an object`);
    const p = raw.path;
    const problem = pathProblem(p, limits.maxPathLength);
    if (problem) {
      const err = problem.startsWith('is longer') ? tooLarge : invalidManifest;
      throw err(`${at}.path ${describe(p)}: ${problem}`);
    }
    const path = p as string;
    if (byPath.has(path)) throw invalidManifest(`${at}.path ${describe(path)}: duplicate path`);
    const slash = path.lastIndexOf('/');
    if (slash >= 0) {
      const parent = byPath.get(path.slice(0, slash));
      if (parent?.type !== 'dir') {
        throw invalidManifest(
          `${at}.path ${describe(path)}: parent ${describe(path.slice(0, slash))} is not a directory listed earlier`,
        );
      }
    }
    let entry: Entry;
    switch (raw.type) {
      case 'dir':
        if (!isMode(raw.mode))
          throw invalidManifest(`${at}.mode ${describe(raw.mode)}: must be an integer in 0..0o7777`);
        entry = { path, type: 'dir', mode: raw.mode };
        break;
      case 'symlink': {
        const t = raw.target;
        if (typeof t !== 'string' || t.length === 0 || t.includes('\0')) {
          throw invalidManifest(`${at}.target ${describe(t)}: must be a non-empty string without NUL`);
        }
        if (Buffer.byteLength(t) > limits.maxPathLength)
          throw tooLarge(`${at}.target: longer than ${limits.maxPathLength} bytes`);
        entry = { path, type: 'symlink', target: t };
        symlinks.push(entry);
        break;
      }
      case 'file': {
        if (!isMode(raw.mode))
          throw invalidManifest(`${at}.mode ${describe(raw.mode)}: must be an integer in 0..0o7777`);
        const size = raw.size;
        if (!Number.isSafeInteger(size) || (size as number) < 0)
          throw invalidManifest(`${at}.size ${describe(size)}: must be a non-negative integer`);
        if ((size as number) > limits.maxFileSize) {
          throw tooLarge(`${at}.size ${describe(size)}: exceeds the limit of ${limits.maxFileSize} bytes`);
        }
        const mtimeMs = raw.mtimeMs ?? 0;
        if (typeof mtimeMs !== 'number' || !Number.isFinite(mtimeMs))
          throw invalidManifest(`${at}.mtimeMs ${describe(mtimeMs)}: must be a number`);
        if (!Array.isArray(raw.chunks)) throw invalidManifest(`${at}.chunks: must be an array`);
        const chunks: ChunkRef[] = [];
        let sum = 0;
        raw.chunks.forEach((c: unknown, j: number) => {
          if (
            !Array.isArray(c) ||
            c.length !== 2 ||
            !isHashHex(c[0]) ||
            !Number.isSafeInteger(c[1]) ||
            (c[1] as number) <= 0
          ) {
            throw invalidManifest(
              `${at}.chunks[${j}] ${describe(c)}: must be [64 hex digits, positive length]`,
            );
          }
          if ((c[1] as number) > limits.maxChunkSize) {
            throw tooLarge(
              `${at}.chunks[${j}]: length ${c[1] as number} exceeds the chunk limit of ${limits.maxChunkSize} bytes`,
            );
          }
          sum += c[1] as number;
          chunks.push([c[0], c[1] as number]);
        });
        if (sum !== size)
          throw invalidManifest(`${at}.size ${describe(size)}: chunk lengths add up to ${sum}`);
        entry = { path, type: 'file', mode: raw.mode, size: size as number, mtimeMs, chunks };
        break;
      }
      default:
        throw invalidManifest(
          `${at}.type ${describe(raw.type)} at ${describe(path)}: only file, dir and symlink entries are allowed (device files, FIFOs and sockets are refused)`,
        );
    }
    byPath.set(path, entry);
    entries.push(entry);
  });
  for (const link of symlinks) {
    const why = symlinkEscape(byPath, link.path, link.target);
    if (why)
      throw invalidManifest(`symlink ${describe(link.path)} -> ${describe(link.target)}: target ${why}`);
  }
  return {
    version: 1,
    id: input.id,
    volume: input.volume,
    parent: (input.parent as string | null | undefined) ?? null,
    full: input.full === true,
    createdAt: typeof input.createdAt === 'string' ? input.createdAt : new Date(0).toISOString(),
    hash,
    chunker: { min: chunker.min as number, avg: chunker.avg as number, max: chunker.max as number },
    rootMode,
    entries,
  };
}
