import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, statSync, utimesSync, writeSync } from 'node:fs';
import path from 'node:path';

/**
 * The benchmark's dataset: many small files in nested folders plus one "database-like" file that
 * makes up the rest of the volume. Everything is derived from a seed, so two runs with the same
 * seed and size produce byte-identical files and mutations.
 *
 * Content is AES-256-CTR keystream (key from the seed and the file's label): incompressible, like
 * already-compressed or encrypted data. No tool under test gains anything from compression, so
 * bytes on the wire compare the transfer algorithms rather than zstd or zlib settings.
 */

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
export const PAGE = 4096;

/** Full-size shape, scaled down proportionally for smaller volumes. */
export const FULL_SIZE_BYTES = 2 * GiB;
export const FULL_SMALL_FILES = 10_000;
export const FULL_TOUCHED_FILES = 1_000;
export const SMALL_MIN = 1024;
export const SMALL_MAX = 64 * 1024;
export const APPEND_BYTES = 10 * MiB;
export const PAGE_FRACTION = 0.01;

export interface FileSpec {
  /** Path relative to the volume root, '/'-separated. */
  rel: string;
  size: number;
}

export interface DatasetPlan {
  seed: string;
  totalBytes: number;
  small: FileSpec[];
  big: FileSpec;
  /** How many small files the "touch" scenario touches. */
  touchCount: number;
}

/** A small deterministic PRNG (mulberry32) seeded from a string; values in [0, 1). */
export function prng(seed: string): () => number {
  let a = createHash('sha256').update(seed).digest().readUInt32LE(0);
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [lo, hi]. */
function between(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

/**
 * Plans a dataset of `totalBytes`: at the full 2 GiB, 10,000 small files of 1–64 KiB (uniform,
 * about 16% of the volume) in a two-level folder tree, and one big file with the remainder.
 * Smaller volumes get proportionally fewer small files (at least 10), so the big file stays the
 * same share of the volume.
 */
export function planDataset(totalBytes: number, seed: string): DatasetPlan {
  if (!Number.isInteger(totalBytes) || totalBytes < 16 * MiB) {
    throw new Error(`dataset size must be at least 16 MiB, got ${totalBytes} bytes`);
  }
  const count = Math.max(
    10,
    Math.min(FULL_SMALL_FILES, Math.round((FULL_SMALL_FILES * totalBytes) / FULL_SIZE_BYTES)),
  );
  const rand = prng(`${seed}/sizes`);
  const small: FileSpec[] = [];
  let smallBytes = 0;
  for (let i = 0; i < count; i++) {
    const size = between(rand, SMALL_MIN, SMALL_MAX);
    const rel = `files/d${String(i % 20).padStart(2, '0')}/e${String(Math.floor(i / 20) % 25).padStart(2, '0')}/f${String(i).padStart(5, '0')}.dat`;
    small.push({ rel, size });
    smallBytes += size;
  }
  const bigSize = totalBytes - smallBytes;
  if (bigSize < 8 * MiB) throw new Error(`dataset too small for ${count} small files`);
  const touchCount = Math.max(1, Math.min(FULL_TOUCHED_FILES, Math.round(count / 10)));
  return { seed, totalBytes, small, big: { rel: 'db/data.db', size: bigSize }, touchCount };
}

/** Deterministic incompressible bytes for `label`, as a stream of blocks. */
export class Keystream {
  private readonly cipher;
  private zeros = Buffer.alloc(0);
  constructor(seed: string, label: string) {
    const key = createHash('sha256').update(`${seed}\0${label}`).digest();
    this.cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  }
  next(n: number): Buffer {
    if (this.zeros.length < n) this.zeros = Buffer.alloc(n);
    return this.cipher.update(this.zeros.subarray(0, n));
  }
}

function writeAll(fd: number, buf: Buffer, position: number | null): void {
  let off = 0;
  while (off < buf.length) {
    off += writeSync(fd, buf, off, buf.length - off, position === null ? null : position + off);
  }
}

/** Writes the planned files under `root` (which must be empty or absent). */
export function generateDataset(root: string, plan: DatasetPlan, onProgress?: (bytes: number) => void): void {
  const dirs = new Set<string>();
  let written = 0;
  for (const f of [...plan.small, plan.big]) {
    const dir = path.dirname(path.join(root, f.rel));
    if (!dirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      dirs.add(dir);
    }
  }
  for (const f of plan.small) {
    const fd = openSync(path.join(root, f.rel), 'w');
    try {
      writeAll(fd, new Keystream(plan.seed, f.rel).next(f.size), null);
    } finally {
      closeSync(fd);
    }
    written += f.size;
  }
  onProgress?.(written);
  const fd = openSync(path.join(root, plan.big.rel), 'w');
  try {
    const ks = new Keystream(plan.seed, plan.big.rel);
    const block = 8 * MiB;
    for (let left = plan.big.size; left > 0;) {
      const n = Math.min(block, left);
      writeAll(fd, ks.next(n), null);
      left -= n;
      written += n;
      if (written % (256 * MiB) < block) onProgress?.(written);
    }
  } finally {
    closeSync(fd);
  }
  onProgress?.(written);
}

/**
 * `count` distinct integers in [0, n), sorted, drawn with `rand` (Floyd's algorithm: exactly
 * `count` draws, no duplicates, no O(n) memory).
 */
export function distinctSample(n: number, count: number, rand: () => number): number[] {
  if (count > n) throw new Error(`cannot pick ${count} distinct values out of ${n}`);
  const picked = new Set<number>();
  for (let j = n - count; j < n; j++) {
    const t = Math.floor(rand() * (j + 1));
    picked.add(picked.has(t) ? j : t);
  }
  return [...picked].sort((a, b) => a - b);
}

/** The 4 KiB pages the random-page-write scenario overwrites in a file of `size` bytes. */
export function pagesToOverwrite(size: number, seed: string, fraction = PAGE_FRACTION): number[] {
  const pages = Math.floor(size / PAGE);
  const count = Math.max(1, Math.round(pages * fraction));
  return distinctSample(pages, count, prng(`${seed}/pages`));
}

export interface Mutation {
  /** Bytes whose content differs from the previous state (exact). */
  changedBytes: number;
  /** Human description for the report. */
  description: string;
}

/**
 * Overwrites 1% of the big file's whole 4 KiB pages with fresh keystream at distinct random
 * offsets. changedBytes = pages × 4096: every overwritten page is new incompressible data, which
 * (with probability 1 - 2^-32768 per page) differs from what was there.
 */
export function overwritePages(root: string, plan: DatasetPlan, label: string): Mutation {
  const file = path.join(root, plan.big.rel);
  const size = statSync(file).size;
  const pages = pagesToOverwrite(size, `${plan.seed}/${label}`);
  const ks = new Keystream(plan.seed, `${label}/pages`);
  const fd = openSync(file, 'r+');
  try {
    for (const p of pages) writeAll(fd, ks.next(PAGE), p * PAGE);
  } finally {
    closeSync(fd);
  }
  return {
    changedBytes: pages.length * PAGE,
    description: `${pages.length} random 4 KiB pages of ${plan.big.rel} overwritten (${(PAGE_FRACTION * 100).toFixed(0)}%)`,
  };
}

/** Appends `bytes` of fresh keystream to the big file. */
export function appendToBig(root: string, plan: DatasetPlan, label: string, bytes = APPEND_BYTES): Mutation {
  const file = path.join(root, plan.big.rel);
  const fd = openSync(file, 'a');
  try {
    const ks = new Keystream(plan.seed, `${label}/append`);
    for (let left = bytes; left > 0;) {
      const n = Math.min(8 * MiB, left);
      writeAll(fd, ks.next(n), null);
      left -= n;
    }
    fstatSync(fd);
  } finally {
    closeSync(fd);
  }
  return { changedBytes: bytes, description: `${bytes / MiB} MiB appended to ${plan.big.rel}` };
}

/** The small files the touch scenario touches. */
export function filesToTouch(plan: DatasetPlan, label: string): FileSpec[] {
  const idx = distinctSample(plan.small.length, plan.touchCount, prng(`${plan.seed}/${label}/touch`));
  return idx.map((i) => plan.small[i]!);
}

/**
 * Sets a new modification time on `touchCount` small files without changing their contents
 * (changedBytes = 0). The new time is at least two seconds after the old one, so tools that
 * compare mtimes at one-second resolution see the change.
 */
export function touchSmallFiles(root: string, plan: DatasetPlan, label: string): Mutation {
  const files = filesToTouch(plan, label);
  const now = Date.now() / 1000;
  for (const f of files) {
    const p = path.join(root, f.rel);
    const st = statSync(p);
    const t = Math.max(now, st.mtimeMs / 1000 + 2);
    utimesSync(p, t, t);
  }
  return { changedBytes: 0, description: `mtime of ${files.length} small files changed, contents unchanged` };
}
