// Sub-chunk deltas: sending a changed chunk as "these byte ranges of chunks you already hold, plus
// these literal bytes" instead of whole.
//
// Why: chunks average 64 KiB, so an in-place 4 KiB page write (a database) would otherwise cost a
// whole chunk on the wire. When a new chunk of a file covers file offsets that chunks of the same
// path in the destination's current restore point (the parent snapshot) also covered, the source
// compares the two at the same *file* offsets in segments cut at every 4 KiB file-aligned boundary
// (pages are file-aligned, chunk starts are not) and at base-chunk boundaries, and sends equal
// segments as copies and differing ones as literals. Bases are matched by offset overlap, not
// exact offset, so a page write that moves a CDC boundary still deltas against both neighbours.
// Comparing bytes directly is equivalent to comparing 4 KiB block hashes and cheaper: the source
// holds both chunks.
//
// Wire form: a stored-form payload (chunk-codec.ts) with encoding byte 0x02, only ever on the wire
// (never in a store):
//   0x02 | nBases u8 (1..MAX_DELTA_BASES) | nBases × 32-byte SHA-256 | ops…
//   op COPY  0x00 | base u8 | offset u32 BE | length u32 BE   bytes [offset, offset+length) of base
//   op LIT   0x01 | length u32 BE | length bytes
// The destination rebuilds the chunk from the bases it holds, refuses malformed or out-of-bounds
// ops (400) and a result whose length or SHA-256 differs from the frame header (422 hash_mismatch,
// exactly like a lying whole chunk), and stores the result under its hash. A delta whose bases the
// destination lacks is not an error: the chunk is reported back (`needWhole`) and sent whole.
import { badRequest, hashMismatch } from '../errors.js';
import { DEFAULT_HASH, HASH_BYTES, type HashAlgorithm, hashHex, nameMatches } from '../store/hash.js';
import type { ChunkRef, Manifest } from './manifest.js';

export const ENC_DELTA = 2;
export const DELTA_BLOCK = 4096;
export const MAX_DELTA_BASES = 8;
const OP_COPY = 0;
const OP_LIT = 1;

/** A base chunk and the file offset it started at in the parent snapshot. */
export interface DeltaBase {
  hash: string;
  /** File offset of the base chunk's first byte. */
  offset: number;
  length: number;
}

/** For a new chunk: the file offset it starts at and the parent chunks overlapping it. */
export interface DeltaCandidate {
  offset: number;
  bases: DeltaBase[];
}

/**
 * A file's chunks in the parent snapshot, with the offset each starts at: which of them a new
 * chunk covering [start, end) of the same file may be encoded against.
 */
export class BaseFile {
  private readonly starts: number[] = [];

  constructor(private readonly chunks: readonly ChunkRef[]) {
    let at = 0;
    for (const [, len] of chunks) {
      this.starts.push(at);
      at += len;
    }
  }

  /** The chunks overlapping file range [start, end), first MAX_DELTA_BASES of them, or null. */
  candidate(start: number, end: number): DeltaCandidate | null {
    // the last chunk starting at or before `start` (binary search), or the first one
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] as number) <= start) lo = mid;
      else hi = mid - 1;
    }
    const bases: DeltaBase[] = [];
    for (let k = lo; k < this.chunks.length && bases.length < MAX_DELTA_BASES; k++) {
      const at = this.starts[k] as number;
      const [hash, length] = this.chunks[k] as ChunkRef;
      if (at >= end) break;
      if (at + length > start) bases.push({ hash, offset: at, length });
    }
    return bases.length > 0 ? { offset: start, bases } : null;
  }
}

/**
 * For every chunk in `wanted`, the parent-snapshot chunks of the same file that overlap its file
 * range (first occurrence of each wanted chunk only). Files whose chunk lists are identical, or
 * absent from the parent, contribute nothing.
 */
export function planDeltas(
  next: Manifest,
  parent: Manifest,
  wanted: Set<string>,
): Map<string, DeltaCandidate> {
  const out = new Map<string, DeltaCandidate>();
  if (wanted.size === 0) return out;
  const parentFiles = new Map<string, ChunkRef[]>();
  for (const e of parent.entries)
    if (e.type === 'file' && e.chunks.length > 0) parentFiles.set(e.path, e.chunks);
  for (const e of next.entries) {
    if (e.type !== 'file') continue;
    const chunks = parentFiles.get(e.path);
    if (!chunks || chunks === e.chunks) continue;
    let base: BaseFile | undefined;
    let off = 0;
    for (const [h, len] of e.chunks) {
      const start = off;
      off += len;
      if (!wanted.has(h) || out.has(h)) continue;
      const c = (base ??= new BaseFile(chunks)).candidate(start, off);
      if (c) out.set(h, c);
    }
  }
  return out;
}

/**
 * Encodes `raw` (a chunk starting at file offset `offset`) against base chunks (raw bytes, with
 * their file offsets). Returns null when no segment matches (nothing to gain).
 */
export function encodeDelta(
  raw: Buffer,
  offset: number,
  bases: Array<{ hash: string; offset: number; raw: Buffer }>,
): Buffer | null {
  const end = offset + raw.length;
  type Op =
    { copy: true; base: number; off: number; len: number } | { copy: false; from: number; len: number };
  const ops: Op[] = [];
  let pos = offset;
  let b = 0;
  while (pos < end) {
    while (b < bases.length && bases[b]!.offset + bases[b]!.raw.length <= pos) b++;
    const base = b < bases.length && bases[b]!.offset <= pos ? bases[b]! : undefined;
    let cut = Math.min(end, (Math.floor(pos / DELTA_BLOCK) + 1) * DELTA_BLOCK);
    if (base) cut = Math.min(cut, base.offset + base.raw.length);
    else if (b < bases.length) cut = Math.min(cut, bases[b]!.offset);
    const len = cut - pos;
    const from = pos - offset;
    const same =
      base !== undefined &&
      raw.compare(base.raw, pos - base.offset, pos - base.offset + len, from, from + len) === 0;
    const last = ops[ops.length - 1];
    if (same) {
      const boff = pos - base.offset;
      if (last?.copy && last.base === b && last.off + last.len === boff) last.len += len;
      else ops.push({ copy: true, base: b, off: boff, len });
    } else if (last && !last.copy) last.len += len;
    else ops.push({ copy: false, from, len });
    pos = cut;
  }
  if (!ops.some((o) => o.copy)) return null;
  // keep only the bases actually copied from
  const used = new Map<number, number>();
  for (const o of ops) if (o.copy && !used.has(o.base)) used.set(o.base, used.size);
  let size = 2 + used.size * HASH_BYTES;
  for (const o of ops) size += o.copy ? 10 : 5 + o.len;
  const out = Buffer.allocUnsafe(size);
  let w = 0;
  out[w++] = ENC_DELTA;
  out[w++] = used.size;
  for (const [idx] of used) w += out.write(bases[idx]!.hash, w, 'hex');
  for (const o of ops) {
    if (o.copy) {
      out[w++] = OP_COPY;
      out[w++] = used.get(o.base) as number;
      out.writeUInt32BE(o.off, w);
      out.writeUInt32BE(o.len, w + 4);
      w += 8;
    } else {
      out[w++] = OP_LIT;
      out.writeUInt32BE(o.len, w);
      w += 4;
      w += raw.copy(out, w, o.from, o.from + o.len);
    }
  }
  return out;
}

/** The base hashes a delta payload names (validating only its header). */
export function deltaBases(payload: Buffer, chunk: string): string[] {
  if (payload.length < 2 || payload[0] !== ENC_DELTA) throw badRequest(`chunk ${chunk}: not a delta payload`);
  const n = payload[1] as number;
  if (n < 1 || n > MAX_DELTA_BASES)
    throw badRequest(`chunk ${chunk}: delta names ${n} base chunks (allowed 1..${MAX_DELTA_BASES})`);
  if (payload.length < 2 + n * HASH_BYTES) throw badRequest(`chunk ${chunk}: delta header truncated`);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(payload.toString('hex', 2 + i * HASH_BYTES, 2 + (i + 1) * HASH_BYTES));
  return out;
}

/** Bytes [at, at + len) of a chunk rebuilt from a delta are bytes [from, from + len) of chunk `base`. */
export interface CopyRun {
  at: number;
  len: number;
  base: string;
  from: number;
}

/**
 * The copy ops of a delta payload that applyDelta has accepted (so well formed), in the order
 * they fill the chunk: which of its byte ranges are bytes of which base.
 */
export function copyRuns(payload: Buffer, names: readonly string[]): CopyRun[] {
  const out: CopyRun[] = [];
  let w = 0;
  let r = 2 + names.length * HASH_BYTES;
  while (r < payload.length) {
    if (payload[r++] === OP_COPY) {
      const len = payload.readUInt32BE(r + 5);
      out.push({
        at: w,
        len,
        base: names[payload[r] as number] as string,
        from: payload.readUInt32BE(r + 1),
      });
      r += 9;
      w += len;
    } else {
      const len = payload.readUInt32BE(r);
      r += 4 + len;
      w += len;
    }
  }
  return out;
}

/**
 * Rebuilds a chunk from a delta payload and its bases' raw bytes (in the order deltaBases named
 * them), refusing malformed ops (400) and a result that is not `rawLen` bytes hashing to `expected`
 * (422) by `alg` (tried first) or another algorithm (store/hash.ts nameMatches).
 */
export function applyDelta(
  payload: Buffer,
  bases: Buffer[],
  rawLen: number,
  expected: string,
  alg: HashAlgorithm = DEFAULT_HASH,
): Buffer {
  const out = Buffer.allocUnsafe(rawLen);
  let w = 0;
  let r = 2 + bases.length * HASH_BYTES;
  const bad = (why: string): never => {
    throw badRequest(`chunk ${expected}: malformed delta: ${why}`);
  };
  while (r < payload.length) {
    const op = payload[r++];
    if (op === OP_COPY) {
      if (r + 9 > payload.length) bad('copy op truncated');
      const bi = payload[r] as number;
      const off = payload.readUInt32BE(r + 1);
      const len = payload.readUInt32BE(r + 5);
      r += 9;
      const base = bases[bi];
      if (!base) bad(`copy from base ${bi} which the delta does not name`);
      if (len === 0 || off + len > (base as Buffer).length)
        bad(`copy [${off}, ${off + len}) beyond base ${bi}`);
      if (w + len > rawLen)
        throw hashMismatch(`chunk ${expected}: delta rebuilds more than the declared ${rawLen} bytes`);
      (base as Buffer).copy(out, w, off, off + len);
      w += len;
    } else if (op === OP_LIT) {
      if (r + 4 > payload.length) bad('literal op truncated');
      const len = payload.readUInt32BE(r);
      r += 4;
      if (len === 0 || r + len > payload.length) bad('literal runs past the payload');
      if (w + len > rawLen)
        throw hashMismatch(`chunk ${expected}: delta rebuilds more than the declared ${rawLen} bytes`);
      payload.copy(out, w, r, r + len);
      r += len;
      w += len;
    } else bad(`unknown op ${String(op)}`);
  }
  if (w !== rawLen) throw hashMismatch(`chunk ${expected}: delta rebuilds ${w} bytes, declared ${rawLen}`);
  if (!nameMatches(out, expected, alg))
    throw hashMismatch(
      `chunk ${expected}: delta rebuilds content hashing to ${hashHex(out, alg)} (${alg}); chunk refused`,
    );
  return out;
}
