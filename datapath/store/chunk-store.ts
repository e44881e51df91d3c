// The agent's content-addressed chunk store, as append-only pack files:
//   <dir>/packs/<n>.pack   records of  magic "FCK1" | sha256 (32) | storedLen (u32 BE) | stored
// where `stored` is the chunk's stored form (chunk-codec.ts: encoding byte + payload).
//
// Why packs and not one file per chunk: on the 2-core reference VM, creating and renaming a file
// per 64 KiB chunk cost 120 µs to over 1 ms (ext4 journal stalls while dirty data is written
// back) — file-per-chunk capped a full snapshot near 100-150 MB/s, while appending to a pack is
// sequential I/O and a single writev per chunk.
//
// Batches: the snapshot's read path appends a whole 8 MiB block's new raw chunks with one writev,
// straight from its read buffer (appendRawBatch), or on the thread pool (appendRawBatchAsync, so
// the copy into the page cache runs off the event loop). While an asynchronous batch is being
// written its pack is "busy": other appenders start a new pack and gc skips it, so every pack
// still has one sequential writer and the crash-safety argument below holds per pack.
//
// Index: an in-memory map from hash to (pack, offset, length, references), rebuilt on open by
// scanning record headers (40 bytes each; no data is read). Crash safety: records are appended
// with one writev in a single thread, so a kill -9 can only leave the *last* record of a pack
// torn; open truncates a record that runs past the end of its pack or has a bad magic, and
// re-hashes the last record of every pack, truncating it if it does not match. fsync policy:
// none by default (kill -9 safe: the page cache outlives the process); with `fsync: true`
// (agent --fsync) every append is fsynced before the put resolves, for power-loss durability.
// Without it the store still starts a background fdatasync of a pack every 32 MiB appended
// (write-behind, see writeBehind()): not for durability, but to keep gigabytes of dirty pack
// pages from triggering the kernel's dirty-page throttling, which made page-cache writes several
// times more expensive on the reference VM during 2 GiB snapshots and receives.
//
// Liveness: each present chunk counts the live manifests (source snapshots and standby restore
// points) that reference it. Pins protect chunks that no manifest references yet (a snapshot
// being taken, an upload session before its commit). gc() drops chunks with no references and no
// pin from the index at once (they are gone for every reader; their record's magic is overwritten
// with "DEAD" so a restart does not bring them back), and reclaims disk by deleting packs
// with no live record and compacting packs that are at least half dead: live records are
// appended to an open pack, then the old pack is deleted (a crash in between leaves harmless
// duplicates, which open() counts as dead).
import fs from 'node:fs';
import path from 'node:path';
import { decodeChunk, ENC_RAW, encodeChunk } from './chunk-codec.js';
import { hashHex, HASH_BYTES } from './hash.js';
import { StageClock } from '../stages.js';

export interface ChunkStoreOptions {
  fsync?: boolean;
  /** Largest raw chunk; bounds decoding. */
  maxChunkSize: number;
  /** Pack size at which a new pack is started (default 64 MiB). */
  packBytes?: number;
  /** Where the agent's stage times go (default: a clock of this store's own). */
  stages?: StageClock;
}

const MAGIC = 0x46434b31; // "FCK1"
const DEAD = 0x44454144; // "DEAD": a dropped record, skipped by scans
const DEAD_MARK = Buffer.from('DEAD');
const RECORD_HEADER = 4 + HASH_BYTES + 4;
/** Bytes appended to a pack between two write-behind fdatasyncs. */
const WRITE_BEHIND_BYTES = 32 * 1024 * 1024;

/** A set of chunk hashes kept alive until released. */
export class Pin {
  readonly hashes = new Set<string>();
  lastUsed = Date.now();
  add(hex: string): void {
    this.hashes.add(hex);
    this.lastUsed = Date.now();
  }
}

export interface PutResult {
  /** True when this call wrote the chunk (it was absent or failed verification). */
  written: boolean;
  storedBytes: number;
  compressed: boolean;
}

interface Loc {
  pack: number;
  /** Offset of the record header. */
  off: number;
  /** Stored length (record = RECORD_HEADER + len). */
  len: number;
  refs: number;
}

interface Pack {
  n: number;
  fd: number;
  size: number;
  /** Bytes of records the index points at. */
  live: number;
  /** An asynchronous batch is being written to it (appendRawBatchAsync). */
  busy?: boolean;
  /** Bytes appended since the last write-behind. */
  unsynced?: number;
}

function writev(fd: number, iov: Uint8Array[], pos: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.writev(fd, iov as NodeJS.ArrayBufferView[], pos, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

export class ChunkStore {
  private readonly index = new Map<string, Loc>();
  /** References to chunks not (yet) present, applied when they arrive. */
  private readonly phantom = new Map<string, number>();
  private readonly pins = new Set<Pin>();
  private readonly writing = new Map<string, Promise<PutResult>>();
  private readonly packs = new Map<number, Pack>();
  /**
   * Packs open for appending (not full). Usually one; while an asynchronous batch holds one
   * (busy), other appenders use or start another, so there are at most as many as concurrent
   * asynchronous writers plus one, and packs are only started when none is free.
   */
  private tails: Pack[] = [];
  private lastPack = 0;
  private syncing = false;
  private readonly fsync: boolean;
  private readonly packBytes: number;
  private readonly packDir: string;
  readonly maxChunkSize: number;
  /** The agent's stage times (stages.ts): the store times `pack` and `verify` itself. */
  readonly stages: StageClock;
  chunksWritten = 0;
  bytesWritten = 0;
  chunksDeleted = 0;

  private constructor(
    readonly dir: string,
    opts: ChunkStoreOptions,
  ) {
    this.fsync = opts.fsync ?? false;
    this.maxChunkSize = opts.maxChunkSize;
    this.packBytes = opts.packBytes ?? 64 * 1024 * 1024;
    this.packDir = path.join(dir, 'packs');
    this.stages = opts.stages ?? new StageClock();
  }

  /** Opens (creating if needed) a store, repairing a torn tail a crash may have left. */
  static async open(dir: string, opts: ChunkStoreOptions): Promise<ChunkStore> {
    const store = new ChunkStore(dir, opts);
    await fs.promises.mkdir(store.packDir, { recursive: true });
    const numbers = (await fs.promises.readdir(store.packDir))
      .map((f) => /^(\d+)\.pack$/.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    for (const f of await fs.promises.readdir(store.packDir)) {
      if (!/^\d+\.pack$/.test(f))
        await fs.promises.rm(path.join(store.packDir, f), { force: true, recursive: true });
    }
    for (const n of numbers) await store.scan(n);
    store.tails = [store.packs.get(numbers.at(-1) ?? -1) ?? store.newPack((numbers.at(-1) ?? 0) + 1)];
    return store;
  }

  private packPath(n: number): string {
    return path.join(this.packDir, `${String(n).padStart(8, '0')}.pack`);
  }

  private newPack(n: number): Pack {
    const fd = fs.openSync(this.packPath(n), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644); // not O_APPEND: dead marks are written in place
    const p: Pack = { n, fd, size: 0, live: 0 };
    this.packs.set(n, p);
    this.lastPack = Math.max(this.lastPack, n);
    return p;
  }

  private async scan(n: number): Promise<void> {
    const file = this.packPath(n);
    const fd = fs.openSync(file, 'r+');
    const size = fs.fstatSync(fd).size;
    const p: Pack = { n, fd, size, live: 0 };
    this.packs.set(n, p);
    this.lastPack = Math.max(this.lastPack, n);
    const head = Buffer.alloc(RECORD_HEADER);
    let off = 0;
    let last: { hex: string; off: number; len: number } | null = null;
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
      last = { hex, off, len };
      if (!this.index.has(hex)) {
        this.index.set(hex, { pack: n, off, len, refs: 0 });
        p.live += RECORD_HEADER + len;
      }
      off += RECORD_HEADER + len;
    }
    if (last && this.index.get(last.hex)?.off === last.off && this.index.get(last.hex)?.pack === n) {
      // the last complete-looking record could still be torn: check its content
      if (!(await this.verify(last.hex))) {
        off = last.off;
      }
    }
    if (off < size) {
      fs.ftruncateSync(fd, off);
      p.size = off;
    }
  }

  get count(): number {
    return this.index.size;
  }

  /** Bytes of pack files on disk. */
  get diskBytes(): number {
    let n = 0;
    for (const p of this.packs.values()) n += p.size;
    return n;
  }

  has(hex: string): boolean {
    return this.index.has(hex);
  }

  /** Where a chunk's record lives (for diagnostics and tests). */
  locate(hex: string): { file: string; offset: number; storedOffset: number; storedLength: number } | null {
    const l = this.index.get(hex);
    return l
      ? {
          file: this.packPath(l.pack),
          offset: l.off,
          storedOffset: l.off + RECORD_HEADER,
          storedLength: l.len,
        }
      : null;
  }

  /**
   * Stores a chunk given its raw bytes and hash (already computed by the caller). With `verify`,
   * a present chunk is re-read and re-hashed and rewritten if it does not match (full mode).
   */
  async put(
    hex: string,
    raw: Buffer,
    opts: { compress?: boolean; pin?: Pin; verify?: boolean } = {},
  ): Promise<PutResult> {
    opts.pin?.add(hex);
    const pending = this.writing.get(hex);
    if (pending) return pending.then((r) => ({ ...r, written: false }));
    if (this.has(hex) && !(opts.verify && !(await this.verify(hex)))) {
      return { written: false, storedBytes: 0, compressed: false };
    }
    const job = (async () => {
      const { stored, compressed } = await encodeChunk(raw, opts.compress ?? false);
      this.stages.time('pack', stored.length, () => this.append(hex, stored));
      return { written: true, storedBytes: stored.length, compressed };
    })();
    this.writing.set(hex, job);
    try {
      return await job;
    } finally {
      this.writing.delete(hex);
    }
  }

  /** Stores a chunk already in stored form whose content the caller has verified. */
  async putStored(hex: string, stored: Buffer, pin?: Pin): Promise<boolean> {
    pin?.add(hex);
    const pending = this.writing.get(hex);
    if (pending) {
      await pending;
      return false;
    }
    if (this.has(hex)) return false;
    this.stages.time('pack', stored.length, () => this.append(hex, stored));
    return true;
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
    const p = this.newPack(this.lastPack + 1);
    this.tails.push(p);
    return p;
  }

  /** Splits raw chunks not yet present into runs of records, one writev each. */
  private runs(items: ReadonlyArray<{ hex: string; raw: Uint8Array }>): Array<{
    iov: Uint8Array[];
    recs: Array<{ hex: string; rel: number; len: number }>;
    total: number;
  }> {
    const seen = new Set<string>();
    const todo: Array<{ hex: string; raw: Uint8Array }> = [];
    for (const it of items) {
      if (this.index.has(it.hex) || seen.has(it.hex)) continue;
      seen.add(it.hex);
      todo.push(it);
    }
    const HEAD = RECORD_HEADER + 1;
    const heads = Buffer.allocUnsafe(HEAD * todo.length);
    const out: Array<{
      iov: Uint8Array[];
      recs: Array<{ hex: string; rel: number; len: number }>;
      total: number;
    }> = [];
    // a run never spans more than packBytes, so runs map onto packs one-to-one (rotation between)
    let run: (typeof out)[number] | null = null;
    todo.forEach(({ hex, raw }, i) => {
      const head = heads.subarray(i * HEAD, (i + 1) * HEAD);
      head.writeUInt32BE(MAGIC, 0);
      head.write(hex, 4, 'hex');
      head.writeUInt32BE(raw.length + 1, 4 + HASH_BYTES);
      head[RECORD_HEADER] = ENC_RAW;
      if (!run || run.iov.length >= 1024 || run.total >= this.packBytes) {
        run = { iov: [], recs: [], total: 0 };
        out.push(run);
      }
      run.iov.push(head, raw);
      run.recs.push({ hex, rel: run.total, len: raw.length + 1 });
      run.total += HEAD + raw.length;
    });
    return out;
  }

  /** Indexes the records of a run written at `base` of pack `p`. */
  private landed(
    p: Pack,
    base: number,
    run: { recs: Array<{ hex: string; rel: number; len: number }>; total: number },
  ): string[] {
    const written: string[] = [];
    for (const r of run.recs) {
      if (this.index.has(r.hex)) continue; // written meanwhile by another appender: ours is a dead duplicate
      const waiting = this.phantom.get(r.hex) ?? 0;
      this.phantom.delete(r.hex);
      this.index.set(r.hex, { pack: p.n, off: base + r.rel, len: r.len, refs: waiting });
      p.live += RECORD_HEADER + r.len;
      written.push(r.hex);
    }
    this.chunksWritten += written.length;
    this.bytesWritten += run.total;
    this.writeBehind(p, run.total);
    return written;
  }

  /**
   * Appends uncompressed chunks (stored form: ENC_RAW + bytes) straight from the caller's buffers,
   * without copying them: one writev per run of up to 512 records (the header and encoding byte of
   * every record come from one shared buffer), then the index is updated. Chunks already present,
   * or repeated within `items`, are skipped. Synchronous, like every append, so records of one
   * pack are never interleaved and a crash can still only tear the last record of a pack.
   * Returns the hashes it wrote.
   */
  appendRawBatch(items: ReadonlyArray<{ hex: string; raw: Uint8Array }>): string[] {
    return this.stages.time('pack', rawBytes(items), () => this.appendRuns(items));
  }

  private appendRuns(items: ReadonlyArray<{ hex: string; raw: Uint8Array }>): string[] {
    const written: string[] = [];
    for (const run of this.runs(items)) {
      const p = this.writable();
      const base = p.size;
      let done = fs.writevSync(p.fd, run.iov, base);
      if (done < run.total) {
        const all = Buffer.concat(run.iov);
        while (done < run.total) done += fs.writeSync(p.fd, all, done, run.total - done, base + done);
      }
      if (this.fsync) fs.fsyncSync(p.fd);
      p.size = base + run.total;
      written.push(...this.landed(p, base, run));
    }
    return written;
  }

  /**
   * appendRawBatch on the thread pool, so the copy into the page cache does not run on the event
   * loop. The pack being written is marked busy: other appenders start a new pack meanwhile and gc
   * leaves it alone, so the pack still has a single sequential writer. Chunks become visible (has,
   * readStored) when the promise resolves; `items`' buffers must not change until then.
   */
  appendRawBatchAsync(items: ReadonlyArray<{ hex: string; raw: Uint8Array }>): Promise<string[]> {
    return this.stages.wait('pack', rawBytes(items), this.appendRunsAsync(items));
  }

  private async appendRunsAsync(items: ReadonlyArray<{ hex: string; raw: Uint8Array }>): Promise<string[]> {
    const written: string[] = [];
    for (const run of this.runs(items)) {
      const p = this.writable();
      const base = p.size;
      p.busy = true;
      p.size = base + run.total; // reserved: nobody else appends to a busy pack
      try {
        let done = await writev(p.fd, run.iov, base);
        if (done < run.total) {
          const all = Buffer.concat(run.iov);
          while (done < run.total) done += fs.writeSync(p.fd, all, done, run.total - done, base + done);
        }
        if (this.fsync) await new Promise<void>((ok, ko) => fs.fsync(p.fd, (e) => (e ? ko(e) : ok())));
      } catch (err) {
        p.size = base; // nothing after it was written (the pack was ours)
        try {
          fs.ftruncateSync(p.fd, base);
        } catch {
          // the next open() repairs the tail
        }
        throw err;
      } finally {
        p.busy = false;
      }
      written.push(...this.landed(p, base, run));
    }
    return written;
  }

  private append(hex: string, stored: Buffer): void {
    if (this.index.has(hex)) return;
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
    p.live += total;
    const waiting = this.phantom.get(hex) ?? 0;
    this.phantom.delete(hex);
    this.index.set(hex, { pack: p.n, off, len: stored.length, refs: waiting });
    this.chunksWritten++;
    this.bytesWritten += total;
    this.writeBehind(p, total);
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

  /** The stored form (encoding byte + payload). */
  readStored(hex: string): Buffer {
    const l = this.index.get(hex);
    if (!l) throw new Error(`chunk ${hex} is not in the store`);
    return this.readRecord(hex, l, Buffer.allocUnsafe(l.len));
  }

  /**
   * A chunk's raw bytes for a caller that uses them before its next call with the same `scratch`
   * (at least maxChunkSize + 1 bytes): a raw-stored chunk is read into `scratch` and a view of it
   * returned, so writing a restore point allocates nothing per chunk; a compressed one is decoded
   * into a new buffer, as readRaw does.
   */
  async readRawInto(hex: string, scratch: Buffer): Promise<Buffer> {
    const l = this.index.get(hex);
    if (!l) throw new Error(`chunk ${hex} is not in the store`);
    if (scratch.length < l.len)
      throw new Error(`chunk ${hex}: scratch buffer of ${scratch.length} bytes is too small`);
    const stored = this.readRecord(hex, l, scratch.subarray(0, l.len));
    if (stored[0] === ENC_RAW) return stored.subarray(1);
    return decodeChunk(stored, this.maxChunkSize);
  }

  private readRecord(hex: string, l: Loc, buf: Buffer): Buffer {
    const p = this.packs.get(l.pack) as Pack;
    let got = 0;
    while (got < l.len) {
      const n = fs.readSync(p.fd, buf, got, l.len - got, l.off + RECORD_HEADER + got);
      if (n === 0) throw new Error(`chunk ${hex}: pack ${p.n} ends early`);
      got += n;
    }
    return buf;
  }

  async readRaw(hex: string): Promise<Buffer> {
    return decodeChunk(this.readStored(hex), this.maxChunkSize);
  }

  /** Re-reads and re-hashes a chunk; a corrupt or unreadable one is dropped and reported false. */
  async verify(hex: string): Promise<boolean> {
    if (!this.has(hex)) return false;
    const end = this.stages.begin('verify');
    try {
      const raw = await this.readRaw(hex);
      const ok = hashHex(raw) === hex;
      end(raw.length);
      if (ok) return true;
    } catch {
      // unreadable or undecodable: treat as corrupt
    } finally {
      end();
    }
    const l = this.index.get(hex);
    if (l) {
      if (l.refs > 0) this.phantom.set(hex, l.refs);
      this.drop(hex, l);
    }
    return false;
  }

  /** Removes a chunk from the index and marks its record dead on disk, so it stays gone after a restart. */
  private drop(hex: string, l: Loc): void {
    this.index.delete(hex);
    const p = this.packs.get(l.pack);
    if (p) {
      p.live -= RECORD_HEADER + l.len;
      fs.writeSync(p.fd, DEAD_MARK, 0, 4, l.off);
    }
  }

  /** Adds one reference from a live manifest to each of `hashes` (unique per manifest). */
  ref(hashes: Iterable<string>): void {
    for (const h of hashes) {
      const l = this.index.get(h);
      if (l) l.refs++;
      else this.phantom.set(h, (this.phantom.get(h) ?? 0) + 1);
    }
  }

  unref(hashes: Iterable<string>): void {
    for (const h of hashes) {
      const l = this.index.get(h);
      if (l) l.refs = Math.max(0, l.refs - 1);
      else {
        const p = (this.phantom.get(h) ?? 0) - 1;
        if (p > 0) this.phantom.set(h, p);
        else this.phantom.delete(h);
      }
    }
  }

  refCount(hex: string): number {
    return this.index.get(hex)?.refs ?? 0;
  }

  pin(): Pin {
    const p = new Pin();
    this.pins.add(p);
    return p;
  }

  release(pin: Pin): void {
    this.pins.delete(pin);
  }

  private pinned(hex: string): boolean {
    for (const p of this.pins) if (p.hashes.has(hex)) return true;
    return false;
  }

  /** Drops every chunk no live manifest references and no pin holds, and reclaims disk. */
  async gc(): Promise<{ deleted: number; packsRemoved: number; packsCompacted: number }> {
    let deleted = 0;
    for (const [hex, l] of this.index) {
      if (l.refs === 0 && !this.writing.has(hex) && !this.pinned(hex)) {
        this.drop(hex, l);
        deleted++;
      }
    }
    this.chunksDeleted += deleted;
    let packsRemoved = 0;
    let packsCompacted = 0;
    for (const p of [...this.packs.values()]) {
      if (p.size === 0) continue;
      const dead = p.size - p.live;
      if (dead === 0 || dead * 2 < p.size) continue;
      if (p.busy) continue;
      this.tails = this.tails.filter((t) => t !== p);
      if (p.live > 0) {
        for (const [hex, l] of [...this.index]) {
          if (l.pack !== p.n) continue;
          const stored = this.readStored(hex);
          this.index.delete(hex);
          this.append(hex, stored);
          (this.index.get(hex) as Loc).refs = l.refs;
          this.chunksWritten--;
        }
        if (this.fsync) for (const t of this.tails) fs.fsyncSync(t.fd);
        packsCompacted++;
      } else packsRemoved++;
      fs.closeSync(p.fd);
      this.packs.delete(p.n);
      fs.rmSync(this.packPath(p.n), { force: true });
    }
    return { deleted, packsRemoved, packsCompacted };
  }

  close(): void {
    for (const p of this.packs.values()) fs.closeSync(p.fd);
    this.packs.clear();
  }
}

function rawBytes(items: ReadonlyArray<{ raw: Uint8Array }>): number {
  let n = 0;
  for (const it of items) n += it.raw.length;
  return n;
}
