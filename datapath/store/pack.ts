// Pack files: the chunk store's records on disk, how they are appended, read back and repaired
// after a crash. The index over them (which hash is where) is chunk-store.ts's; this file knows
// records and packs, not which chunks are alive.
//   <dir>/packs/<n>.pack   records of  magic "FCK1" | sha256 (32) | storedLen (u32 BE) | stored
// where `stored` is the chunk's stored form (chunk-codec.ts: encoding byte + payload). A record
// whose magic is "DEAD" was dropped (gc.ts) and is skipped by scans.
//
// Why packs and not one file per chunk: on the 2-core reference VM, creating and renaming a file
// per 64 KiB chunk cost 120 µs to over 1 ms (ext4 journal stalls while dirty data is written
// back) — file-per-chunk capped a full snapshot near 100-150 MB/s, while appending to a pack is
// sequential I/O and a single writev per chunk.
//
// Batches: the snapshot's read path appends a whole 8 MiB block's new raw chunks with one writev,
// straight from its read buffer (ChunkStore.appendRawBatch, here writeRun), or on the thread pool
// (appendRawBatchAsync, here writeRunAsync, so the copy into the page cache runs off the event
// loop). While an asynchronous batch is being written its
// pack is "busy": other appenders start a new pack and gc skips it, so every pack still has one
// sequential writer and the crash-safety argument below holds per pack.
//
// Direct I/O for large batches: an asynchronous run of at least DIRECT_MIN_BYTES is copied into an
// aligned staging buffer and written with O_DIRECT, starting at a 4 KiB boundary: a DEAD record
// pads the pack up to it and another pads the run's end to the next one, so scans skip both.
// Why: a system profile of the 512 MiB full copy put 34% of all CPU samples in the kernel copying
// the source's pack writes into page-cache pages (copy_folio_from_iter_atomic), and on the
// reference VM such writes cost 0.15–3.7 CPU-s per 512 MiB from one run to the next, where O_DIRECT
// cost 0.06–0.07 (docs/benchmarks.md, issue 14). The data then goes to the device without passing
// through the page cache; a later read of it comes from the device. Where O_DIRECT is refused
// (tmpfs, some FUSE filesystems) runs are written through the page cache as before.
// The threshold (3 MiB) is met by the runs of a full snapshot (a new 8 MiB block) and by a receive
// batch (4 MiB), not by an incremental snapshot's scattered new chunks (a block's few changed
// chunks): those are read back within the second to be sent as deltas, one 64 KiB read each, and
// from the device every read stalled the push, while each direct write stalled the snapshot's
// pipeline on the device. The 512 MiB benchmark's pages-1pct with the threshold at 1 MiB vs 3 MiB
// (interleaved runs): wall 1.48, 1.48 vs 1.25, 1.32 s; transfer 501-553 vs 387-474 ms (134 ms of
// it synchronous reads of the new chunks before); snapshot 596-900 vs 494-541 ms.
//
// Index files: once a pack is full, `<n>.idx` lists its live records (offset, hash, stored length)
// and the pack's size, written atomically beside it; load() reads it instead of the pack's record
// headers. Why: a scan reads each 40-byte header with its own pread, and headers lie a chunk apart,
// so each is a device read when the pack is not in the page cache (the direct writes above keep it
// out): 352 ms for the source's 512 MiB store after a full copy, minutes for a terabyte. A kill
// of a corrupt record deletes the index first, so it never comes back from a stale index: that pack
// is scanned at the next load (the DEAD mark keeps it out), which writes its index again. A record
// gc drops (unreferenced, its bytes fine) is not marked in the pack but left out of a rewritten
// index: marking it read its page from the device first, the pack not being in the page cache,
// one synchronous read per record on a commit's clock (87 ms for 1,221 records, cold cache). A
// crash before the rewrite brings such a record back at the next load, unreferenced, and the
// next gc drops it again.
// An index whose pack size differs from the pack's is ignored (the pack is scanned).
//
// Crash safety: records are appended with one writev in a single thread, so a kill -9 can only
// leave the *last* record of a pack torn; load() truncates a record that runs past the end of its
// pack or has a bad magic, and has the last record of every pack re-hashed, truncating it if it
// does not match. Record headers are 40 bytes, so rebuilding the index on open reads no data.
// fsync policy: none by default (kill -9 safe: the page cache outlives the process); with
// `fsync: true` (agent --fsync) every append is fsynced before it returns, for power-loss
// durability. Without it a background fdatasync of a pack starts every 32 MiB appended
// (write-behind, see writeBehind()): not for durability, but to keep gigabytes of dirty pack pages
// from triggering the kernel's dirty-page throttling, which made page-cache writes several times
// more expensive on the reference VM during 2 GiB snapshots and receives.
import fs from 'node:fs';
import path from 'node:path';
import { ENC_RAW } from './chunk-codec.js';
import { HASH_BYTES } from './hash.js';
import { alignedBuffer, DIRECT_ALIGN, readAllAt, writeAllAt, writeFileAtomic } from '../fs-util.js';

const MAGIC = 0x46434b31; // "FCK1"
const DEAD = 0x44454144; // "DEAD": a dropped record, skipped by scans
const DEAD_MARK = Buffer.from('DEAD');
const INDEX_MAGIC = 0x46434931; // "FCI1"
/** Index file: magic, record count, pack size (u32 high, u32 low); then per record offset, hash, length. */
const INDEX_HEADER = 16;
const INDEX_ENTRY = 4 + HASH_BYTES + 4;

/** Entry `i` of index file `idx`: the record's offset in the pack, its hash and stored length. */
function indexEntry(idx: Buffer, i: number): { off: number; hex: string; len: number } {
  const at = INDEX_HEADER + i * INDEX_ENTRY;
  return {
    off: idx.readUInt32BE(at),
    hex: idx.toString('hex', at + 4, at + 4 + HASH_BYTES),
    len: idx.readUInt32BE(at + 4 + HASH_BYTES),
  };
}
export const RECORD_HEADER = 4 + HASH_BYTES + 4;
/** Bytes appended to a pack between two write-behind fdatasyncs. */
const WRITE_BEHIND_BYTES = 32 * 1024 * 1024;
/** Asynchronous runs at least this large are written with O_DIRECT (when the filesystem allows). */
export const DIRECT_MIN_BYTES = 3 * 1024 * 1024;

/**
 * Bytes from `off` to the next DIRECT_ALIGN boundary, as a DEAD record's length: 0 when `off` is on
 * one, else at least RECORD_HEADER (a gap too small for a header reaches to the boundary after).
 */
export function directPad(off: number): number {
  const gap = (DIRECT_ALIGN - (off % DIRECT_ALIGN)) % DIRECT_ALIGN;
  return gap === 0 || gap >= RECORD_HEADER ? gap : gap + DIRECT_ALIGN;
}

/** Writes a DEAD record spanning `buf[at, at + len)` (len >= RECORD_HEADER): skipped by scans. */
function writePad(buf: Buffer, at: number, len: number): void {
  buf.fill(0, at, at + len);
  buf.writeUInt32BE(DEAD, at);
  buf.writeUInt32BE(len - RECORD_HEADER, at + 4 + HASH_BYTES);
}

export interface Pack {
  n: number;
  fd: number;
  size: number;
  /** Bytes of records the index points at: added to by whoever indexes a record, taken from by kill(). */
  live: number;
  /** An asynchronous batch is being written to it (writeRunAsync). */
  busy?: boolean;
  /** Bytes appended since the last write-behind. */
  unsynced?: number;
  /** The pack opened a second time with O_DIRECT, for large asynchronous runs and reading them back. */
  directFd?: number;
  /**
   * Byte ranges of this pack written with O_DIRECT since it was opened, as [start, end) pairs in
   * order, adjacent ones merged; both ends are DIRECT_ALIGN boundaries (the runs are padded).
   */
  direct?: number[];
  /**
   * Its records as [offset, hash, stored length] (appended since this process created it, or found
   * by a scan), for its index file; undefined once that is written or when the pack was loaded from it.
   */
  recs?: Array<[number, string, number]>;
  /** Offsets of `recs` records killed before the index file was written. */
  killed?: Set<number>;
  /** Its index file exists (a corrupt record's kill deletes it: the next load scans the pack instead). */
  indexed?: boolean;
  /** Offsets of records gc dropped since its index file was last written (rewritten without them). */
  unlisted?: number[];
  /** A record was killed after its index was listed: no index file for it until the next load. */
  stale?: boolean;
}

/** Where a record is: its pack, the offset of its header, and its stored length. */
export interface RecordLoc {
  pack: number;
  /** Offset of the record header. */
  off: number;
  /** Stored length (record = RECORD_HEADER + len). */
  len: number;
}

/** Records to append with one writev, and where each lands relative to the run. */
export interface Run {
  iov: Uint8Array[];
  recs: Array<{ hex: string; rel: number; len: number }>;
  total: number;
}

/**
 * Lays chunks out as records in runs of up to 512 records, one writev each, without copying them:
 * the record headers come from one shared buffer. `bytes` is each chunk's stored form, or with
 * `rawPrefix` its raw bytes, stored as ENC_RAW + bytes (the encoding byte then shares the header's
 * buffer). A run never spans more than packBytes, so runs map onto packs one-to-one.
 */
export function recordRuns(
  todo: ReadonlyArray<{ hex: string; bytes: Uint8Array }>,
  packBytes: number,
  rawPrefix: boolean,
): Run[] {
  const extra = rawPrefix ? 1 : 0;
  const HEAD = RECORD_HEADER + extra;
  const heads = Buffer.allocUnsafe(HEAD * todo.length);
  const out: Run[] = [];
  let run: Run | null = null;
  todo.forEach(({ hex, bytes }, i) => {
    const head = heads.subarray(i * HEAD, (i + 1) * HEAD);
    head.writeUInt32BE(MAGIC, 0);
    head.write(hex, 4, 'hex');
    head.writeUInt32BE(bytes.length + extra, 4 + HASH_BYTES);
    if (rawPrefix) head[RECORD_HEADER] = ENC_RAW;
    if (!run || run.iov.length >= 1024 || run.total >= packBytes) {
      run = { iov: [], recs: [], total: 0 };
      out.push(run);
    }
    run.iov.push(head, bytes);
    run.recs.push({ hex, rel: run.total, len: bytes.length + extra });
    run.total += HEAD + bytes.length;
  });
  return out;
}

/** Reads of at least this many bytes of directly written records are made with O_DIRECT (readDirect). */
const DIRECT_READ_MIN = 256 * 1024;
/** Largest O_DIRECT read (a bounce buffer's size): a push reads up to about 1 MiB at a time. */
const DIRECT_READ_MAX = 2 * 1024 * 1024;
/** Bytes of records one readRecords call may ask for and still be read with O_DIRECT (alignment around them). */
export const RECORD_RUN_MAX = DIRECT_READ_MAX - 2 * DIRECT_ALIGN;
/**
 * The staging buffer a store makes when it opens: big enough for a snapshot block's run (8 MiB of
 * chunks plus a carried-over chunk, headers and padding) or a receive batch.
 */
const STAGING_BYTES = 16 * 1024 * 1024;
/**
 * Bounce buffers for readDirect, all made when a store opens and kept for reuse: one per read in
 * flight. Why all at open: with 4 made then, every agent's first full copy (8 reads in flight)
 * probed 4 more, each a synchronous O_DIRECT write (aligned()), 118 ms of a source's event loop
 * behind another process's writeback (cpuprofile of the 512 MiB full copy).
 */
const BOUNCE_POOL = 8;

/** Whether [a, b) lies within one of the [start, end) pairs of `ranges`. */
function covers(ranges: readonly number[], a: number, b: number): boolean {
  for (let i = 0; i < ranges.length; i += 2)
    if (a >= (ranges[i] as number) && b <= (ranges[i + 1] as number)) return true;
  return false;
}

function writev(fd: number, iov: Uint8Array[], pos: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.writev(fd, iov as NodeJS.ArrayBufferView[], pos, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

/** The pack files of one store. */
export class PackFiles {
  private readonly packs = new Map<number, Pack>();
  /**
   * Packs open for appending (not full). Usually one; while an asynchronous batch holds one
   * (busy), other appenders use or start another, so there are at most as many as concurrent
   * asynchronous writers plus one, and packs are only started when none is free.
   */
  private tails: Pack[] = [];
  private lastPack = 0;
  private syncing = false;
  /** Whether this directory takes O_DIRECT writes: unknown until the first large run asks. */
  private directOk: boolean | undefined;
  /** Aligned staging buffers for direct runs not in use (one per run in flight). */
  private readonly staging: Buffer[] = [];
  /** Aligned bounce buffers of DIRECT_READ_MAX bytes for readDirect, not in use. */
  private readonly bounces: Buffer[] = [];
  /** Bounce buffers made so far (at most BOUNCE_POOL), and reads waiting for one to be free. */
  private bouncesMade = 0;
  private readonly bounceWaiters: Array<(b: Buffer) => void> = [];
  /** Bytes readRecords has read with O_DIRECT (readDirect); the tests check the direct path ran. */
  directReadBytes = 0;
  /** Index files being written, one after another. */
  private sealing: Promise<void> = Promise.resolve();

  constructor(
    readonly dir: string,
    private readonly fsync: boolean,
    private readonly packBytes: number,
  ) {}

  /**
   * Opens (creating if needed) the pack directory and scans every pack in order: `found` is told
   * each record and answers whether the index took it (false for a duplicate, which stays dead
   * weight); `intact` re-hashes the last record of a pack if the index took it. A torn or corrupt
   * tail is truncated.
   */
  async load(
    found: (p: Pack, hex: string, off: number, len: number) => boolean,
    intact: (hex: string) => Promise<boolean>,
  ): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    const numbers = (await fs.promises.readdir(this.dir))
      .map((f) => /^(\d+)\.pack$/.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    const present = new Set(numbers);
    const indexes = new Set<number>();
    for (const f of await fs.promises.readdir(this.dir)) {
      if (/^\d+\.pack$/.test(f)) continue;
      const idx = /^(\d+)\.idx$/.exec(f);
      if (idx && present.has(Number(idx[1]))) indexes.add(Number(idx[1]));
      else await fs.promises.rm(path.join(this.dir, f), { force: true, recursive: true });
    }
    for (const n of numbers) {
      if (!(indexes.has(n) && this.loadIndexed(n, found))) await this.scan(n, found, intact);
    }
    // Only the last pack is appended to from now on: the others get their index file now.
    for (const n of numbers) {
      const p = this.packs.get(n);
      if (p) this.sealIfFull(p, n !== numbers.at(-1) || p.size >= this.packBytes);
    }
    this.tails = [this.packs.get(numbers.at(-1) ?? -1) ?? this.create((numbers.at(-1) ?? 0) + 1)];
    // A staging buffer and the bounce buffers are made now, not when the first direct write or
    // read needs one: making an aligned buffer writes a block with O_DIRECT (aligned()),
    // synchronously, and behind the writeback of a previous replication that one write took
    // 128 ms of a snapshot's event loop (cpuprofile of the 512 MiB benchmark's append-10MiB,
    // agents restarted before it), then as much of the push's when it read the chunks back.
    // One probe: the buffers are 4 KiB-aligned slices of one aligned allocation. Measured (3
    // interleaved runs each): append-10MiB snapshot 549-703 -> 363-431 ms.
    if (fs.constants.O_DIRECT) {
      const all = this.aligned(STAGING_BYTES + BOUNCE_POOL * DIRECT_READ_MAX);
      if (all) {
        this.staging.push(all.subarray(0, STAGING_BYTES));
        for (let i = 0; i < BOUNCE_POOL; i++) {
          const at = STAGING_BYTES + i * DIRECT_READ_MAX;
          this.bounces.push(all.subarray(at, at + DIRECT_READ_MAX));
          this.bouncesMade++;
        }
      }
    }
  }

  path(n: number): string {
    return path.join(this.dir, `${String(n).padStart(8, '0')}.pack`);
  }

  private indexPath(n: number): string {
    return path.join(this.dir, `${String(n).padStart(8, '0')}.idx`);
  }

  /**
   * Indexes pack `n` from its index file; false (nothing indexed) when the file is unreadable or
   * does not describe the pack as it is (another size, a record past its end).
   */
  private loadIndexed(
    n: number,
    found: (p: Pack, hex: string, off: number, len: number) => boolean,
  ): boolean {
    let idx: Buffer;
    let fd: number;
    try {
      idx = fs.readFileSync(this.indexPath(n));
      fd = fs.openSync(this.path(n), 'r+');
    } catch {
      return false;
    }
    const size = fs.fstatSync(fd).size;
    const count = idx.length >= INDEX_HEADER ? idx.readUInt32BE(4) : -1;
    let ok =
      count >= 0 &&
      idx.readUInt32BE(0) === INDEX_MAGIC &&
      idx.length === INDEX_HEADER + count * INDEX_ENTRY &&
      idx.readUInt32BE(8) * 2 ** 32 + idx.readUInt32BE(12) === size;
    const entries = ok ? Array.from({ length: count }, (_, i) => indexEntry(idx, i)) : [];
    for (let i = 0, prevEnd = 0; ok && i < count; i++) {
      const { off, len } = entries[i] as { off: number; len: number };
      ok = off >= prevEnd && off + RECORD_HEADER + len <= size;
      prevEnd = off + RECORD_HEADER + len;
    }
    if (!ok) {
      fs.closeSync(fd);
      return false;
    }
    const p: Pack = { n, fd, size, live: 0, indexed: true };
    this.packs.set(n, p);
    this.lastPack = Math.max(this.lastPack, n);
    for (const { off, hex, len } of entries) found(p, hex, off, len);
    return true;
  }

  /** Notes records just appended to `p` for its index file, and writes that file once `p` is full. */
  private appended(
    p: Pack,
    base: number,
    recs: ReadonlyArray<{ hex: string; rel: number; len: number }>,
  ): void {
    if (p.recs) for (const r of recs) p.recs.push([base + r.rel, r.hex, r.len]);
    this.sealIfFull(p);
  }

  /**
   * Writes the index file of a full pack nobody appends to any more (asynchronously, atomically;
   * best effort: without it the next load scans the pack).
   */
  private sealIfFull(p: Pack, full = p.size >= this.packBytes): void {
    if (!p.recs || p.busy || !full || p.size >= 2 ** 32) return;
    const live = p.killed ? p.recs.filter(([off]) => !p.killed?.has(off)) : p.recs;
    p.recs = undefined;
    p.killed = undefined;
    const idx = Buffer.allocUnsafe(INDEX_HEADER + live.length * INDEX_ENTRY);
    idx.writeUInt32BE(INDEX_MAGIC, 0);
    idx.writeUInt32BE(live.length, 4);
    idx.writeUInt32BE(Math.floor(p.size / 2 ** 32), 8);
    idx.writeUInt32BE(p.size % 2 ** 32, 12);
    live.forEach(([off, hex, len], i) => {
      const at = INDEX_HEADER + i * INDEX_ENTRY;
      idx.writeUInt32BE(off, at);
      idx.write(hex, at + 4, HASH_BYTES, 'hex');
      idx.writeUInt32BE(len, at + 4 + HASH_BYTES);
    });
    const file = this.indexPath(p.n);
    this.sealing = this.sealing
      .then(() => {
        // Gone or killed into meanwhile: no index (a kill would have found none to delete).
        if (this.packs.get(p.n) !== p || p.stale) return;
        return writeFileAtomic(file, idx, this.fsync).then(() => {
          if (this.packs.get(p.n) === p && !p.stale) p.indexed = true;
          else fs.rmSync(file, { force: true });
        });
      })
      .catch(() => undefined);
  }

  /**
   * Rewrites the index file of `p` without the records gc dropped since (kill). Should the file be
   * gone or unreadable, or a corrupt kill have deleted it meanwhile, there is nothing to rewrite:
   * the next load scans the pack.
   */
  private async relist(p: Pack): Promise<void> {
    const gone = new Set(p.unlisted);
    p.unlisted = undefined;
    if (this.packs.get(p.n) !== p || !p.indexed) return;
    const file = this.indexPath(p.n);
    const idx = await fs.promises.readFile(file);
    const count = idx.readUInt32BE(4);
    const kept: Buffer[] = [idx.subarray(0, INDEX_HEADER)];
    let n = 0;
    for (let i = 0; i < count; i++) {
      const at = INDEX_HEADER + i * INDEX_ENTRY;
      if (gone.has(idx.readUInt32BE(at))) continue;
      kept.push(idx.subarray(at, at + INDEX_ENTRY));
      n++;
    }
    const out = Buffer.concat(kept);
    out.writeUInt32BE(n, 4);
    if (this.packs.get(p.n) !== p || !p.indexed) return;
    await writeFileAtomic(file, out, this.fsync);
    // A corrupt kill or a removal meanwhile deleted the old file: take the new one back.
    if (this.packs.get(p.n) !== p || !p.indexed) await fs.promises.rm(file, { force: true });
  }

  /** Resolves once the index files being written are on disk (tests, close). */
  sealed(): Promise<void> {
    return this.sealing;
  }

  private create(n: number): Pack {
    const fd = fs.openSync(this.path(n), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644); // not O_APPEND: dead marks are written in place
    const p: Pack = { n, fd, size: 0, live: 0, recs: [] };
    this.packs.set(n, p);
    this.lastPack = Math.max(this.lastPack, n);
    return p;
  }

  private async scan(
    n: number,
    found: (p: Pack, hex: string, off: number, len: number) => boolean,
    intact: (hex: string) => Promise<boolean>,
  ): Promise<void> {
    const fd = fs.openSync(this.path(n), 'r+');
    const size = fs.fstatSync(fd).size;
    const p: Pack = { n, fd, size, live: 0, recs: [] };
    this.packs.set(n, p);
    this.lastPack = Math.max(this.lastPack, n);
    const head = Buffer.alloc(RECORD_HEADER);
    let off = 0;
    let last: { hex: string; off: number; indexed: boolean } | null = null;
    while (off < size) {
      const got = off + RECORD_HEADER <= size ? fs.readSync(fd, head, 0, RECORD_HEADER, off) : 0;
      const len = got === RECORD_HEADER ? head.readUInt32BE(4 + HASH_BYTES) : -1;
      const magic = got === RECORD_HEADER ? head.readUInt32BE(0) : 0;
      if ((magic !== MAGIC && magic !== DEAD) || off + RECORD_HEADER + len > size || len === 0) break;
      if (magic === DEAD) {
        off += RECORD_HEADER + len;
        continue;
      }
      const hex = head.toString('hex', 4, 4 + HASH_BYTES);
      last = { hex, off, indexed: found(p, hex, off, len) };
      p.recs?.push([off, hex, len]);
      off += RECORD_HEADER + len;
    }
    // the last complete-looking record could still be torn: check its content
    if (last?.indexed && !(await intact(last.hex))) {
      off = last.off;
      p.recs?.pop();
    }
    if (off < size) {
      fs.ftruncateSync(fd, off);
      p.size = off;
    }
  }

  /** Bytes of pack files on disk. */
  get diskBytes(): number {
    let n = 0;
    for (const p of this.packs.values()) n += p.size;
    return n;
  }

  /** Every pack, as a list that later changes to the set do not affect. */
  list(): Pack[] {
    return [...this.packs.values()];
  }

  /**
   * The pack to append to: the first open pack that is neither full nor being written by an
   * asynchronous batch, else a new one. So a pack only ever has one writer at a time and a crash
   * can only tear its last record.
   */
  private writable(): Pack {
    this.tails = this.tails.filter((p) => p.size < this.packBytes && this.packs.get(p.n) === p);
    const free = this.tails.find((p) => !p.busy);
    if (free) return free;
    const p = this.create(this.lastPack + 1);
    this.tails.push(p);
    return p;
  }

  /** Appends one record; returns where it went. */
  writeRecord(hex: string, stored: Buffer): { p: Pack; off: number } {
    const p = this.writable();
    const head = Buffer.allocUnsafe(RECORD_HEADER);
    head.writeUInt32BE(MAGIC, 0);
    head.write(hex, 4, 'hex');
    head.writeUInt32BE(stored.length, 4 + HASH_BYTES);
    const off = p.size;
    const total = RECORD_HEADER + stored.length;
    let done = fs.writevSync(p.fd, [head, stored], off);
    while (done < total) {
      const rest = Buffer.concat([head, stored]).subarray(done);
      done += fs.writeSync(p.fd, rest, 0, rest.length, off + done);
    }
    if (this.fsync) fs.fsyncSync(p.fd);
    p.size += total;
    this.writeBehind(p, total);
    this.appended(p, off, [{ hex, rel: 0, len: stored.length }]);
    return { p, off };
  }

  /** Appends a run with one writev on the event loop; returns where it went. */
  writeRun(run: Run): { p: Pack; base: number } {
    const p = this.writable();
    const base = p.size;
    let done = fs.writevSync(p.fd, run.iov, base);
    if (done < run.total) {
      const all = Buffer.concat(run.iov);
      while (done < run.total) done += fs.writeSync(p.fd, all, done, run.total - done, base + done);
    }
    if (this.fsync) fs.fsyncSync(p.fd);
    p.size = base + run.total;
    this.writeBehind(p, run.total);
    this.appended(p, base, run.recs);
    return { p, base };
  }

  /**
   * Appends a run on the thread pool. Its pack is busy meanwhile (no other appender, no gc), and
   * `landed` is called in the same turn as the pack stops being busy, so nothing sees the pack
   * with records the index does not know yet.
   */
  async writeRunAsync<T>(run: Run, landed: (p: Pack, base: number) => T): Promise<T> {
    if (run.total >= DIRECT_MIN_BYTES && this.directOk !== false) {
      const staging = this.stagingFor(run.total + 2 * DIRECT_ALIGN);
      if (staging) {
        try {
          return await this.writeRunDirect(run, staging, landed);
        } catch (err) {
          // EINVAL: the filesystem refused the direct write after all (the run was cut back):
          // write this run and every later one through the page cache.
          if ((err as { code?: string }).code !== 'EINVAL') throw err;
          this.directOk = false;
        } finally {
          this.staging.push(staging);
        }
      }
    }
    const p = this.writable();
    const base = p.size;
    return this.busyWrite(
      p,
      base,
      base + run.total,
      async () => {
        let done = await writev(p.fd, run.iov, base);
        if (done < run.total) {
          const all = Buffer.concat(run.iov);
          while (done < run.total) done += fs.writeSync(p.fd, all, done, run.total - done, base + done);
        }
      },
      () => {
        this.writeBehind(p, run.total);
        this.appended(p, base, run.recs);
        return landed(p, base);
      },
    );
  }

  /**
   * Runs `write` with pack `p` busy and its size reserved up to `end` (nobody else appends to a
   * busy pack), fsyncs with `fsync`, and calls `landed` in the same turn as the pack stops being
   * busy, so nothing sees the pack with records the index does not know yet. On failure the pack
   * is cut back to `start` (it was ours).
   */
  private async busyWrite<T>(
    p: Pack,
    start: number,
    end: number,
    write: () => Promise<void>,
    landed: () => T,
  ): Promise<T> {
    p.busy = true;
    p.size = end;
    try {
      await write();
      if (this.fsync) await new Promise<void>((ok, ko) => fs.fsync(p.fd, (e) => (e ? ko(e) : ok())));
    } catch (err) {
      p.size = start;
      try {
        fs.ftruncateSync(p.fd, start);
      } catch {
        // the next load() repairs the tail
      }
      throw err;
    } finally {
      p.busy = false;
    }
    return landed();
  }

  /**
   * writeRunAsync with O_DIRECT: a DEAD record pads the pack to a 4 KiB boundary (written through
   * the page cache: it shares a page with the records before it), then the run and a DEAD record
   * padding it to the next boundary are copied into `staging` and written directly. Same
   * busy/landed protocol and the same repair on failure as the buffered path.
   */
  private async writeRunDirect<T>(
    run: Run,
    staging: Buffer,
    landed: (p: Pack, base: number) => T,
  ): Promise<T> {
    const p = this.writable();
    const start = p.size;
    const lead = directPad(start);
    const at = start + lead;
    const tail = directPad(at + run.total);
    const length = run.total + tail;
    return this.busyWrite(
      p,
      start,
      at + length,
      async () => {
        if (lead > 0) {
          const pad = Buffer.allocUnsafe(lead);
          writePad(pad, 0, lead);
          await writeAllAt(p.fd, pad, start);
        }
        let k = 0;
        for (const part of run.iov) {
          staging.set(part, k);
          k += part.length;
        }
        if (tail > 0) writePad(staging, k, tail);
        p.directFd ??= fs.openSync(this.path(p.n), fs.constants.O_RDWR | fs.constants.O_DIRECT);
        await writeAllAt(p.directFd, staging.subarray(0, length), at);
      },
      () => {
        const r = (p.direct ??= []);
        if (r.length > 0 && r[r.length - 1] === at) r[r.length - 1] = at + length;
        else r.push(at, at + length);
        this.appended(p, at, run.recs);
        return landed(p, at);
      },
    );
  }

  /**
   * A staging buffer of at least `bytes` whose address is DIRECT_ALIGN-aligned, or null when this
   * directory does not take O_DIRECT writes.
   */
  private stagingFor(bytes: number): Buffer | null {
    const i = this.staging.findIndex((b) => b.length >= bytes);
    if (i >= 0) return this.staging.splice(i, 1)[0] as Buffer;
    return this.aligned(Math.ceil(bytes / (8 * 1024 * 1024)) * 8 * 1024 * 1024);
  }

  /**
   * A new buffer of `size` bytes whose address is DIRECT_ALIGN-aligned, or null when this
   * directory does not take O_DIRECT writes. JavaScript cannot see a buffer's address, so this
   * probes: it writes one block of a scratch file in the pack directory with O_DIRECT from
   * successive offsets of an over-allocated buffer; the kernel refuses a misaligned one (EINVAL).
   */
  private aligned(size: number): Buffer | null {
    const probe = path.join(this.dir, `direct-probe-${process.pid}`);
    let fd: number;
    try {
      fd = fs.openSync(probe, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_DIRECT, 0o600);
    } catch {
      this.directOk = false; // EINVAL: no O_DIRECT here
      return null;
    }
    try {
      const buf = alignedBuffer(fd, size);
      this.directOk = buf !== null;
      return buf;
    } finally {
      fs.closeSync(fd);
      fs.rmSync(probe, { force: true });
    }
  }

  /**
   * Write-behind (not durability): after every WRITE_BEHIND_BYTES appended to a pack, start an
   * fdatasync of it on the thread pool, without waiting for it (at most one at a time per store).
   * Measured on the reference VM: writing 2 GiB into the page cache while ~2 GiB of other dirty
   * data is pending cost 1.6–4 s of system time (dirty-page throttling), 0.8 s with write-behind;
   * a 2 GiB snapshot (or a full receive) is exactly that situation. Skipped with `fsync: true`,
   * where every append is already synced.
   */
  private writeBehind(p: Pack, bytes: number): void {
    if (this.fsync) return;
    p.unsynced = (p.unsynced ?? 0) + bytes;
    if (p.unsynced < WRITE_BEHIND_BYTES || this.syncing) return;
    p.unsynced = 0;
    this.syncing = true;
    fs.fdatasync(p.fd, () => {
      this.syncing = false; // errors (e.g. the pack was deleted meanwhile) do not matter here
    });
  }

  /**
   * Reads `len` bytes of pack `n` from `off` into `buf` at `at` on the thread pool, and checks that
   * the records it expects there (`recs`: header offset relative to `off`, hash, stored length) are
   * the ones it read. Returns how many of them, from the first, it found intact: fewer than all
   * when the pack was compacted or removed meanwhile (the caller then reads those one by one).
   */
  async readRecords(
    n: number,
    off: number,
    buf: Buffer,
    at: number,
    len: number,
    recs: ReadonlyArray<{ rel: number; hex: string; len: number }>,
  ): Promise<number> {
    const p = this.packs.get(n);
    if (!p) return 0;
    let got = 0;
    try {
      got = (await this.readDirect(p, off, buf, at, len)) ?? (await readAllAt(p.fd, buf, at, len, off));
    } catch {
      return 0;
    }
    let intact = 0;
    for (const r of recs) {
      const h = at + r.rel;
      if (r.rel + RECORD_HEADER + r.len > got) break;
      if (buf.readUInt32BE(h) !== MAGIC || buf.readUInt32BE(h + 4 + HASH_BYTES) !== r.len) break;
      if (buf.toString('hex', h + 4, h + 4 + HASH_BYTES) !== r.hex) break;
      intact++;
    }
    return intact;
  }

  /**
   * readRecords' read of bytes this process wrote with O_DIRECT: read back with O_DIRECT too,
   * through an aligned bounce buffer (the whole 4 KiB blocks around them), then copied into `buf`.
   * Returns the bytes placed, or null when the range was not written directly, is too small or too
   * large for a bounce buffer (the caller then reads through the page cache). Why: those bytes are
   * not in the page cache, and a buffered read puts them there first; on the reference VM that
   * page-cache fill (readahead, page allocation, memcg charge, copy) was 0.61 CPU-s of the source's
   * 4 in a 512 MiB full copy (perf record -a), for pages nobody reads again. O_DIRECT reads are
   * coherent with buffered writes (the kernel writes back dirty pages of the range first), so a
   * record killed through the page cache meanwhile still reads as DEAD.
   */
  private async readDirect(
    p: Pack,
    off: number,
    buf: Buffer,
    at: number,
    len: number,
  ): Promise<number | null> {
    if (len < DIRECT_READ_MIN || p.directFd === undefined || !p.direct) return null;
    const a = off - (off % DIRECT_ALIGN);
    const b = Math.ceil((off + len) / DIRECT_ALIGN) * DIRECT_ALIGN;
    if (b - a > DIRECT_READ_MAX || !covers(p.direct, a, b)) return null;
    const bounce = await this.takeBounce();
    if (!bounce) return null;
    try {
      const got = await readAllAt(p.directFd, bounce, 0, b - a, a);
      this.directReadBytes += got;
      return bounce.copy(buf, at, off - a, Math.min(got, off - a + len)); // 0 when `got` ends before `off`
    } finally {
      const next = this.bounceWaiters.shift();
      if (next) next(bounce);
      else this.bounces.push(bounce);
    }
  }

  /**
   * A free bounce buffer: one of the pool, a new one while fewer than BOUNCE_POOL were made, else
   * the next one a read gives back (a ninth read in flight waits instead of probing for a buffer
   * it would drop afterwards). Null when no aligned buffer can be made here.
   */
  private takeBounce(): Buffer | null | Promise<Buffer> {
    const free = this.bounces.pop();
    if (free) return free;
    if (this.bouncesMade < BOUNCE_POOL) {
      const made = this.aligned(DIRECT_READ_MAX);
      if (made) this.bouncesMade++;
      return made;
    }
    return new Promise((resolve) => this.bounceWaiters.push(resolve));
  }

  /** Reads a record's stored form into `buf` (at least l.len bytes). */
  read(hex: string, l: RecordLoc, buf: Buffer): Buffer {
    const p = this.packs.get(l.pack) as Pack;
    let got = 0;
    while (got < l.len) {
      const n = fs.readSync(p.fd, buf, got, l.len - got, l.off + RECORD_HEADER + got);
      if (n === 0) throw new Error(`chunk ${hex}: pack ${p.n} ends early`);
      got += n;
    }
    return buf;
  }

  /**
   * No longer counts a record live, and takes it out of its pack on disk so a restart does not
   * bring it back: left out of the pack's rewritten index file, or (no index, or `corrupt`) marked
   * DEAD in the pack, its index deleted first (see the file's header).
   */
  kill(l: RecordLoc, corrupt = false): void {
    const p = this.packs.get(l.pack);
    if (!p) return;
    p.live -= RECORD_HEADER + l.len;
    if (p.indexed && !corrupt) {
      if (!p.unlisted) {
        p.unlisted = [];
        this.sealing = this.sealing.then(() => this.relist(p)).catch(() => undefined);
      }
      p.unlisted.push(l.off);
      return;
    }
    if (p.recs) (p.killed ??= new Set()).add(l.off);
    else {
      p.stale = true;
      if (p.indexed) fs.rmSync(this.indexPath(p.n), { force: true }); // before the mark: never a stale index
      p.indexed = false;
    }
    fs.writeSync(p.fd, DEAD_MARK, 0, 4, l.off);
  }

  /** Takes a pack out of the ones appended to (gc is about to empty it). */
  retire(p: Pack): void {
    this.tails = this.tails.filter((t) => t !== p);
  }

  /** With `fsync`, syncs the packs open for appending (after gc moved records into them). */
  syncTails(): void {
    if (this.fsync) for (const t of this.tails) fs.fsyncSync(t.fd);
  }

  /** Closes and deletes a pack. */
  remove(p: Pack): void {
    fs.closeSync(p.fd);
    if (p.directFd !== undefined) fs.closeSync(p.directFd);
    this.packs.delete(p.n);
    fs.rmSync(this.indexPath(p.n), { force: true });
    fs.rmSync(this.path(p.n), { force: true });
  }

  close(): void {
    for (const p of this.packs.values()) {
      fs.closeSync(p.fd);
      if (p.directFd !== undefined) fs.closeSync(p.directFd);
    }
    this.packs.clear();
  }
}
