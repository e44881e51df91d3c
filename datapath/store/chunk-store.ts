// The agent's content-addressed chunk store: one index from hash to where the chunk's record is
// and how many live manifests reference it, over append-only pack files. This file is the facade
// callers use; the pieces are in their own files:
//   pack.ts       the record format, appending, reading, crash recovery on open, write-behind
//   liveness.ts   references (also to chunks not here yet) and pins, the Pin class
//   gc.ts         which chunks are dropped, which packs are deleted or compacted
//
// Index: an in-memory map from hash to (pack, offset, length, references), rebuilt on open by
// scanning record headers; a chunk is visible (has, readStored) once its record is written and
// indexed. Concurrent puts of one chunk share one write (`writing`), and gc keeps what is being
// written.
//
// Chunks kept elsewhere: a destination keeps the chunks of large files it wrote straight from the
// wire in the restore-point files themselves, not in packs (destination/file-chunks.ts). It
// attaches them as the store's `elsewhere`: holds() answers for packs and files, and every read
// (readRaw, readRawInto, readRawAsync, rawInOrder, verify) falls back to them, re-hashing what it
// reads there (readRawAsync, for delta bases, leaves that to the chunk rebuilt from them). has() stays "in a pack": what a source's snapshot has captured for itself, and
// what gc, pack runs and stored-form reads work on.
import path from 'node:path';
import { decodeChunk, ENC_RAW, encodeChunk } from './chunk-codec.js';
import { collectGarbage } from './gc.js';
import { nameMatches } from './hash.js';
import { type ChunkList, type Entry, Liveness, type Pin } from './liveness.js';
import { type Pack, PackFiles, RECORD_HEADER, RECORD_RUN_MAX, recordRuns, type Run } from './pack.js';
import { StageClock } from '../stages.js';

export { Pin } from './liveness.js';

export interface ChunkStoreOptions {
  fsync?: boolean;
  /** Largest raw chunk; bounds decoding. */
  maxChunkSize: number;
  /** Pack size at which a new pack is started (default 64 MiB). */
  packBytes?: number;
  /** Where the agent's stage times go (default: a clock of this store's own). */
  stages?: StageClock;
}

export interface PutResult {
  /** True when this call wrote the chunk (it was absent or failed verification). */
  written: boolean;
  storedBytes: number;
  compressed: boolean;
}

/** Records lying back to back in one pack (ChunkStore.recordRun). */
export interface RecordRun {
  pack: number;
  /** Offset of the first record's header. */
  off: number;
  bytes: number;
  /** Each record: its header's offset from `off`, its chunk, its stored length. */
  recs: Array<{ rel: number; hex: string; len: number }>;
}

/** Chunks kept outside the packs (see the file's header). */
export interface ChunkElsewhere {
  has(hex: string): boolean;
  /**
   * The chunk's raw bytes, checked against its name unless `unchecked` (the caller checks what it
   * makes of them); null when it turned out gone (or, checked, changed).
   */
  read(hex: string, unchecked?: boolean): Promise<Buffer | null>;
}

/** Runs rawInOrder reads ahead of the one its caller is using. */
const RUNS_AHEAD = 3;
/** rawInOrder run buffers kept for reuse (files are written a few at a time). */
const RUN_BUFFERS_KEPT = 16;

export class ChunkStore {
  private readonly index = new Map<string, Entry>();
  private readonly live = new Liveness(this.index);
  private readonly writing = new Map<string, Promise<PutResult>>();
  /** Callers waiting for a chunk to arrive (whenPresent). */
  private readonly arrivals = new Map<string, Array<() => void>>();
  /** rawInOrder's run buffers not in use. */
  private readonly runBuffers: Buffer[] = [];
  private readonly packs: PackFiles;
  private readonly packBytes: number;
  readonly maxChunkSize: number;
  /** The agent's stage times (stages.ts): the store times `pack` and `verify` itself. */
  readonly stages: StageClock;
  chunksWritten = 0;
  bytesWritten = 0;
  chunksDeleted = 0;
  /** Chunks kept outside the packs (a destination's restore-point files), when attached. */
  elsewhere: ChunkElsewhere | null = null;

  private constructor(
    readonly dir: string,
    opts: ChunkStoreOptions,
  ) {
    this.maxChunkSize = opts.maxChunkSize;
    this.packBytes = opts.packBytes ?? 64 * 1024 * 1024;
    this.packs = new PackFiles(path.join(dir, 'packs'), opts.fsync ?? false, this.packBytes);
    this.stages = opts.stages ?? new StageClock();
  }

  /** Opens (creating if needed) a store, repairing a torn tail a crash may have left. */
  static async open(dir: string, opts: ChunkStoreOptions): Promise<ChunkStore> {
    const store = new ChunkStore(dir, opts);
    await store.packs.load(
      (p, hex, off, len) => store.add(p, hex, off, len),
      (hex) => store.verify(hex),
    );
    return store;
  }

  /** Indexes a record just written or found, unless the chunk is indexed already (then it is a dead duplicate). */
  private add(p: Pack, hex: string, off: number, len: number): boolean {
    if (this.index.has(hex)) return false;
    this.index.set(hex, { pack: p.n, off, len, refs: this.live.arrived(hex) });
    p.live += RECORD_HEADER + len;
    const waiting = this.arrivals.get(hex);
    if (waiting) {
      this.arrivals.delete(hex);
      for (const w of waiting) w();
    }
    return true;
  }

  /**
   * `arrived` resolves once chunk `hex` is in the store (at once if it is), or when `cancel` is
   * called: callers check has() again. Why not an AbortSignal: a build waits for thousands of
   * chunks in a full copy, and an AbortController made and aborted per wait (a DOMException with
   * a stack trace each) was ~0.3 CPU-s of the destination's 2 GiB full copy (cpuprofile).
   */
  whenPresent(hex: string): { arrived: Promise<void>; cancel: () => void } {
    if (this.index.has(hex)) return { arrived: Promise.resolve(), cancel: () => undefined };
    let done!: () => void;
    const arrived = new Promise<void>((resolve) => (done = resolve));
    const list = this.arrivals.get(hex);
    if (list) list.push(done);
    else this.arrivals.set(hex, [done]);
    const cancel = (): void => {
      const waiting = this.arrivals.get(hex);
      const k = waiting?.indexOf(done) ?? -1;
      if (waiting && k >= 0) waiting.splice(k, 1);
      if (waiting?.length === 0) this.arrivals.delete(hex);
      done();
    };
    return { arrived, cancel };
  }

  /**
   * Removes a chunk from the index and from its pack's records on disk (pack.ts kill), so it stays
   * gone after a restart. `corrupt`: its bytes are bad (a failed verify), not merely unreferenced.
   */
  private drop(hex: string, e: Entry, corrupt = false): void {
    this.live.left(hex, e.refs);
    this.index.delete(hex);
    this.packs.kill(e, corrupt);
  }

  get count(): number {
    return this.index.size;
  }

  /** Bytes of pack files on disk. */
  get diskBytes(): number {
    return this.packs.diskBytes;
  }

  /** In a pack. */
  has(hex: string): boolean {
    return this.index.has(hex);
  }

  /** In a pack or kept elsewhere (`elsewhere`): readable with readRaw and its kin. */
  holds(hex: string): boolean {
    return this.index.has(hex) || (this.elsewhere?.has(hex) ?? false);
  }

  /** A live manifest references the chunk (present or not), or a pin holds it. */
  wanted(hex: string): boolean {
    return this.live.wanted(hex);
  }

  /** A chunk not in a pack, from `elsewhere`; throws when it is not there either. */
  private async fromElsewhere(hex: string, unchecked = false): Promise<Buffer> {
    const raw = this.elsewhere?.has(hex) ? await this.elsewhere.read(hex, unchecked) : null;
    if (!raw) throw new Error(`chunk ${hex} is not in the store`);
    return raw;
  }

  /** Where a chunk's record lives (for diagnostics and tests). */
  locate(hex: string): { file: string; offset: number; storedOffset: number; storedLength: number } | null {
    const l = this.index.get(hex);
    return l
      ? {
          file: this.packs.path(l.pack),
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

  private append(hex: string, stored: Buffer): void {
    if (this.index.has(hex)) return;
    const { p, off } = this.packs.writeRecord(hex, stored);
    this.add(p, hex, off, stored.length);
    this.chunksWritten++;
    this.bytesWritten += RECORD_HEADER + stored.length;
  }

  /**
   * Appends uncompressed chunks (stored form: ENC_RAW + bytes) straight from the caller's buffers,
   * without copying them: one writev per run of up to 512 records (pack.ts recordRuns), then the
   * index is updated. Chunks already present, or repeated within `items`, are skipped.
   * Synchronous, like every append, so records of one pack are never interleaved and a crash can
   * still only tear the last record of a pack. Returns the hashes it wrote.
   */
  appendRawBatch(items: ReadonlyArray<{ hex: string; raw: Uint8Array }>): string[] {
    return this.stages.time('pack', rawBytes(items), () => {
      const written: string[] = [];
      for (const run of this.runs(items)) {
        const { p, base } = this.packs.writeRun(run);
        written.push(...this.landed(p, base, run));
      }
      return written;
    });
  }

  /**
   * appendRawBatch on the thread pool, so the copy into the page cache does not run on the event
   * loop. The pack being written is marked busy: other appenders start a new pack meanwhile and gc
   * leaves it alone, so the pack still has a single sequential writer. Chunks become visible (has,
   * readStored) when the promise resolves; `items`' buffers must not change until then.
   */
  appendRawBatchAsync(items: ReadonlyArray<{ hex: string; raw: Uint8Array }>): Promise<string[]> {
    return this.stages.wait('pack', rawBytes(items), this.appendRunsAsync(this.runs(items)));
  }

  /**
   * Appends chunks already in stored form (encoding byte + payload) whose content the caller has
   * verified, as appendRawBatchAsync does raw ones: on the thread pool, with O_DIRECT for runs of
   * DIRECT_MIN_BYTES or more. The receiving agent batches verified chunks into it. Returns the
   * hashes it wrote.
   */
  appendStoredBatchAsync(items: ReadonlyArray<{ hex: string; stored: Uint8Array }>): Promise<string[]> {
    const bytes = items.reduce((n, it) => n + it.stored.length, 0);
    return this.stages.wait('pack', bytes, this.appendRunsAsync(this.storedRuns(items)));
  }

  private async appendRunsAsync(runs: Run[]): Promise<string[]> {
    const written: string[] = [];
    for (const run of runs) {
      written.push(...(await this.packs.writeRunAsync(run, (p, base) => this.landed(p, base, run))));
    }
    return written;
  }

  /** The raw chunks of `items` not yet present (each once), as runs of records. */
  private runs(items: ReadonlyArray<{ hex: string; raw: Uint8Array }>): Run[] {
    return recordRuns(
      this.absent(items, (it) => it.raw),
      this.packBytes,
      true,
    );
  }

  /** The stored-form chunks of `items` not yet present (each once), as runs of records. */
  private storedRuns(items: ReadonlyArray<{ hex: string; stored: Uint8Array }>): Run[] {
    return recordRuns(
      this.absent(items, (it) => it.stored),
      this.packBytes,
      false,
    );
  }

  private absent<T extends { hex: string }>(
    items: ReadonlyArray<T>,
    bytes: (it: T) => Uint8Array,
  ): Array<{ hex: string; bytes: Uint8Array }> {
    const seen = new Set<string>();
    const todo: Array<{ hex: string; bytes: Uint8Array }> = [];
    for (const it of items) {
      if (this.index.has(it.hex) || seen.has(it.hex)) continue;
      seen.add(it.hex);
      todo.push({ hex: it.hex, bytes: bytes(it) });
    }
    return todo;
  }

  /** Indexes the records of a run written at `base` of pack `p`. */
  private landed(p: Pack, base: number, run: Run): string[] {
    const written: string[] = [];
    for (const r of run.recs) {
      // written meanwhile by another appender: ours is a dead duplicate
      if (this.add(p, r.hex, base + r.rel, r.len)) written.push(r.hex);
    }
    this.chunksWritten += written.length;
    this.bytesWritten += run.total;
    return written;
  }

  /** The stored form (encoding byte + payload). */
  readStored(hex: string): Buffer {
    const l = this.index.get(hex);
    if (!l) throw new Error(`chunk ${hex} is not in the store`);
    return this.packs.read(hex, l, Buffer.allocUnsafe(l.len));
  }

  /**
   * The stored form read into the start of `into` (which must have room for it); returns the
   * view of `into` it fills. Lets a sender read chunks straight into its outgoing buffer.
   */
  readStoredInto(hex: string, into: Buffer): Buffer {
    const l = this.index.get(hex);
    if (!l) throw new Error(`chunk ${hex} is not in the store`);
    if (into.length < l.len) throw new Error(`chunk ${hex}: ${into.length} bytes of room for ${l.len}`);
    return this.packs.read(hex, l, into.subarray(0, l.len));
  }

  /**
   * For sending: the records of `hexes[from, to)` from the first on that lie back to back in one
   * pack, as many as end within `limit` bytes (at least the first): readRecordRun reads them with
   * one read. Why: a full copy sends chunks in the order the snapshot stored them, so they are
   * contiguous in its packs, and reading them one 64 KiB pread at a time on the event loop blocked
   * it on the device for every chunk the snapshot had written with O_DIRECT (pack.ts).
   * Synchronous, so a caller can claim the chunks before it awaits the read.
   */
  recordRun(hexes: readonly string[], from: number, to: number, limit: number): RecordRun {
    const first = hexes[from] as string;
    const l0 = this.index.get(first);
    if (!l0) throw new Error(`chunk ${first} is not in the store`);
    const recs = [{ rel: 0, hex: first, len: l0.len }];
    let end = RECORD_HEADER + l0.len;
    for (let i = from + 1; i < to; i++) {
      const h = hexes[i] as string;
      const l = this.index.get(h);
      if (!l || l.pack !== l0.pack || l.off !== l0.off + end || end + RECORD_HEADER + l.len > limit) break;
      recs.push({ rel: end, hex: h, len: l.len });
      end += RECORD_HEADER + l.len;
    }
    return { pack: l0.pack, off: l0.off, bytes: end, recs };
  }

  /** Bytes of records read back with O_DIRECT (see readRecordRun); the tests check the direct path ran. */
  get directReadBytes(): number {
    return this.packs.directReadBytes;
  }

  /**
   * Reads a recordRun into `into` at `at` on the thread pool: each record's 40-byte header (magic,
   * hash, stored length) then the chunk's stored form. Returns how many records, from the first,
   * were read intact; the rest (their pack compacted or removed meanwhile) are for readStoredInto.
   */
  readRecordRun(run: RecordRun, into: Buffer, at: number): Promise<number> {
    // Records a large batch wrote with O_DIRECT are read back with O_DIRECT too (pack.ts readDirect).
    if (at + run.bytes > into.length) throw new Error(`${run.bytes} bytes of records do not fit at ${at}`);
    return this.packs.readRecords(run.pack, run.off, into, at, run.bytes, run.recs);
  }

  /**
   * A chunk's raw bytes for a caller that uses them before its next call with the same `scratch`
   * (at least maxChunkSize + 1 bytes): a raw-stored chunk is read into `scratch` and a view of it
   * returned, so writing a restore point allocates nothing per chunk; a compressed one is decoded
   * into a new buffer, as readRaw does.
   */
  async readRawInto(hex: string, scratch: Buffer): Promise<Buffer> {
    const l = this.index.get(hex);
    if (!l) return this.fromElsewhere(hex);
    if (scratch.length < l.len)
      throw new Error(`chunk ${hex}: scratch buffer of ${scratch.length} bytes is too small`);
    const stored = this.packs.read(hex, l, scratch.subarray(0, l.len));
    if (stored[0] === ENC_RAW) return stored.subarray(1);
    return decodeChunk(stored, this.maxChunkSize);
  }

  /**
   * The raw bytes of chunks `hexes`, in order, for writing a file from them: chunks whose records
   * lie back to back in one pack are read as one run of up to RECORD_RUN_MAX bytes on the thread
   * pool (O_DIRECT where they were written so), RUNS_AHEAD runs read ahead of the one the caller is
   * using; a chunk elsewhere (or moved meanwhile) is read alone into `scratch` (maxChunkSize + 1
   * bytes). Each buffer yielded is valid until the next is asked for. Why: a full copy's commit
   * wrote a 430 MiB file from chunks read one 64 KiB synchronous pread at a time, each from the
   * device (the receive wrote them with O_DIRECT), on the event loop between its direct writes:
   * 140 ms of the commit's main thread and no overlap of reads with writes (cpuprofile of the
   * 512 MiB benchmark's full copy).
   */
  async *rawInOrder(hexes: readonly string[], scratch: Buffer): AsyncGenerator<Buffer> {
    const ahead: Array<{ run: RecordRun; buf: Buffer; intact: Promise<number> }> = [];
    let next = 0;
    /** Starts reading runs from `next` until RUNS_AHEAD are under way or a chunk is not here. */
    const fill = (): void => {
      while (ahead.length < RUNS_AHEAD && next < hexes.length && this.index.has(hexes[next] as string)) {
        const run = this.recordRun(hexes, next, hexes.length, RECORD_RUN_MAX);
        const buf = this.runBuffers.pop() ?? Buffer.allocUnsafeSlow(RECORD_RUN_MAX);
        const intact = this.readRecordRun(run, buf, 0);
        intact.catch(() => undefined); // awaited in order below
        ahead.push({ run, buf, intact });
        next += run.recs.length;
      }
    };
    const keep = (buf: Buffer): void => {
      if (this.runBuffers.length < RUN_BUFFERS_KEPT) this.runBuffers.push(buf);
    };
    let at = 0;
    try {
      while (at < hexes.length) {
        fill();
        const head = ahead.shift();
        if (!head) {
          // Not in the store when the runs were planned: read alone (readRawInto names a missing one).
          yield await this.readRawInto(hexes[at] as string, scratch);
          next = ++at;
          continue;
        }
        const intact = await head.intact.catch(() => 0);
        try {
          fill();
          for (const [k, r] of head.run.recs.entries()) {
            if (k < intact) {
              const stored = head.buf.subarray(r.rel + RECORD_HEADER, r.rel + RECORD_HEADER + r.len);
              yield stored[0] === ENC_RAW ? stored.subarray(1) : await decodeChunk(stored, this.maxChunkSize);
            } else {
              yield await this.readRawInto(r.hex, scratch); // moved since the run was planned
            }
          }
          at += head.run.recs.length;
        } finally {
          keep(head.buf);
        }
      }
    } finally {
      for (const a of ahead) {
        await a.intact.catch(() => 0);
        keep(a.buf);
      }
    }
  }

  /**
   * readRaw with the read on the thread pool (O_DIRECT where the record was written so), for
   * reading several chunks at once; a record moved meanwhile is read again with readRaw.
   */
  async readRawAsync(hex: string): Promise<Buffer> {
    const l = this.index.get(hex);
    // unchecked: its callers (delta bases) hash what they rebuild from it, and verify() on a mismatch
    if (!l) return this.fromElsewhere(hex, true);
    const bytes = RECORD_HEADER + l.len;
    const buf = Buffer.allocUnsafe(bytes);
    const n = await this.packs.readRecords(l.pack, l.off, buf, 0, bytes, [{ rel: 0, hex, len: l.len }]);
    // 0 records: it moved meanwhile (compaction)
    return n === 1 ? decodeChunk(buf.subarray(RECORD_HEADER), this.maxChunkSize) : this.readRaw(hex);
  }

  async readRaw(hex: string): Promise<Buffer> {
    if (!this.index.has(hex)) return this.fromElsewhere(hex);
    return decodeChunk(this.readStored(hex), this.maxChunkSize);
  }

  /** Re-reads and re-hashes a chunk; a corrupt or unreadable one is dropped and reported false. */
  async verify(hex: string): Promise<boolean> {
    if (!this.has(hex)) return this.elsewhere?.has(hex) ? (await this.elsewhere.read(hex)) !== null : false;
    const end = this.stages.begin('verify');
    try {
      const raw = await this.readRaw(hex);
      const ok = nameMatches(raw, hex) !== null;
      end(raw.length);
      if (ok) return true;
    } catch {
      // unreadable or undecodable: treat as corrupt
    } finally {
      end();
    }
    const l = this.index.get(hex);
    if (l) this.drop(hex, l, true);
    return false;
  }

  /** Adds one reference from a live manifest to each of `hashes` (unique per manifest). */
  ref(hashes: Iterable<string>): void {
    this.live.ref(hashes);
  }

  unref(hashes: Iterable<string>): void {
    this.live.unref(hashes);
  }

  /** A live manifest's references, through its files' chunk lists (liveness.ts refLists). */
  refLists(lists: Iterable<ChunkList>): void {
    this.live.refLists(lists);
  }

  unrefLists(lists: Iterable<ChunkList>): void {
    this.live.unrefLists(lists);
  }

  refCount(hex: string): number {
    return this.live.refCount(hex);
  }

  pin(): Pin {
    return this.live.pin();
  }

  release(pin: Pin): void {
    this.live.release(pin);
  }

  /**
   * Drops every chunk no live manifest references and no pin holds, and reclaims disk (gc.ts);
   * with `compact: false` packs that still hold live records are left for a later gc.
   */
  async gc(
    opts: { compact?: boolean } = {},
  ): Promise<{ deleted: number; packsRemoved: number; packsCompacted: number }> {
    const r = collectGarbage(
      {
        index: this.index,
        packs: this.packs,
        held: (hex) => this.writing.has(hex) || this.live.pinned(hex),
        drop: (hex, e) => this.drop(hex, e),
        move: (hex, e) => {
          const stored = this.readStored(hex);
          this.index.delete(hex);
          this.append(hex, stored);
          (this.index.get(hex) as Entry).refs = e.refs;
          this.chunksWritten--; // moved, not written
        },
      },
      opts,
    );
    this.chunksDeleted += r.deleted;
    return r;
  }

  /** Resolves once the pack index files being written are on disk (pack.ts). */
  sealed(): Promise<void> {
    return this.packs.sealed();
  }

  close(): void {
    this.packs.close();
  }
}

function rawBytes(items: ReadonlyArray<{ raw: Uint8Array }>): number {
  let n = 0;
  for (const it of items) n += it.raw.length;
  return n;
}
