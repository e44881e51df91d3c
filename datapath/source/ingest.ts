// The snapshot's read path: read a file, cut it into chunks (FastCDC), hash them and capture the
// chunks the store lacks — in one pass over reused buffers, with no per-chunk copy or promise for
// the common case.
//
// Why (profile of the 2 GiB benchmark volume, 10,000 small files + one 1.69 GiB file, before this
// file existed): 26% of the snapshot's time was the garbage collector and 29% idle. Every file,
// however small, allocated its own 4.25 MiB read buffer (V8 counts it as external memory, so 10,000
// files forced ~190 full mark-compacts and ~1,500 scavenges "external memory pressure"), every file
// took five thread-pool round trips (open, fstat, read, fstat, close), and every chunk was copied
// twice (Buffer.from, then the stored form with its encoding byte) and went through its own
// promise and its own writev.
//
// Now:
//  * Read buffers of `max + BLOCK_SIZE` bytes (8 MiB blocks) per snapshot, reused for every file.
//    A block is read at offset `max`; the unchunked tail of the previous block (< max bytes) is
//    copied in front of it, so a chunk never straddles two buffers. Chunk boundaries are exactly
//    those of Chunker.split over the whole file (cut() is always given >= max bytes, or the file's
//    end), so stores and manifests made before this change dedupe exactly as before.
//  * Files up to SYNC_READ_MAX bytes are opened, read and closed with synchronous calls (from the
//    page cache that is a few µs; a thread-pool hop costs more than the read), chunked and hashed
//    inline, and their new chunks appended with one synchronous writev per file. The walk yields
//    to the event loop at least every YIELD_MS of synchronous work.
//  * Larger files run as a pipeline over four buffers: block k+1 is read on the thread pool while
//    block k is cut on the event loop, block k-1 is hashed on the hash worker thread
//    (store/hash-worker.ts) and block k-2's new chunks are written on the thread pool (one write in
//    flight, ChunkStore.appendRawBatchAsync). On 2 cores this moves SHA-256 and the page-cache
//    copy off the event loop, which also serves the concurrent transfer.
//  * A chunk the store already has costs a hash and a map lookup (and a pin): nothing is copied.
//  * New chunks that the entropy gate says are not worth compressing (or with compression off) are
//    appended raw, straight from the read buffer: no copy. Compressible chunks are copied and
//    compressed on the thread pool as before, with a bounded number of bytes in flight (a counter
//    and one waiter, not Promise.race over every in-flight put).
//  * Full mode: a chunk already in the store is re-verified (re-read, re-hashed, rewritten if it
//    drifted) once per snapshot, through ChunkStore.put(verify).
//
// onChunk (see SnapshotOptions in snapshot.ts): called once per distinct chunk of the files this
// snapshot reads, as soon as the chunk is readable from the store.
import fs from 'node:fs';
import type { Chunker } from '../store/chunker.js';
import { worthCompressing } from '../store/chunk-codec.js';
import type { ChunkStore, Pin } from '../store/chunk-store.js';
import { AgentError } from '../errors.js';
import { type HashAlgorithm, hashHex } from '../store/hash.js';
import { HASH_WORKER_AVAILABLE, hashRanges } from '../store/hash-worker.js';
import type { ChunkRef } from '../protocol/manifest.js';
import type { StageClock } from '../stages.js';
import { SyncSlices } from '../yield.js';

/** Bytes read per read call. */
export const BLOCK_SIZE = 8 * 1024 * 1024;
/** Files up to this size are read with synchronous calls. */
export const SYNC_READ_MAX = 1024 * 1024;
/** Longest stretch of synchronous work before yielding to the event loop. */
export const YIELD_MS = 4;
/** Bytes of compressible new chunks being compressed/written concurrently. */
const MAX_INFLIGHT_BYTES = 32 * 1024 * 1024;

export interface ChunkEvent {
  /** The raw chunk's hash (its name), hex. */
  hash: string;
  /** Raw size in bytes. */
  size: number;
  /** True when this snapshot wrote the chunk into the store; false when it was already there. */
  stored: boolean;
}

export interface IngestCounters {
  chunksNew: number;
  bytesStored: number;
  chunksCompressed: number;
  bytesRead: number;
}

export interface IngestOptions {
  store: ChunkStore;
  chunker: Chunker;
  pin: Pin;
  full: boolean;
  compress: boolean;
  /** How chunks are named (default sha256). */
  hash?: HashAlgorithm;
  onChunk?: (c: ChunkEvent) => void;
  signal?: AbortSignal;
  /** Called with the bytes of each chunk as it is cut (progress). */
  onBytes?: (n: number) => void;
  /** Hash large files on the hash worker thread (default: when there is a second CPU). */
  hashWorker?: boolean;
}

function readAsync(fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, buf, off, len, pos, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

interface Job {
  buf: Buffer;
  cuts: Int32Array;
  hashes: Promise<string[]>;
}

/** One block of a large file (Blocks.next). */
interface Block {
  /** The buffer: the file from offset `at` is at `cur[from, end)`. */
  cur: Buffer;
  from: number;
  end: number;
  at: number;
  /** This block reaches the end of the file. */
  eof: boolean;
}

/**
 * A large file read in BLOCK_SIZE blocks into four rotating buffers, each block at offset `max`
 * behind the unchunked tail of the block before it (carryOver), so a chunk never straddles two
 * buffers; the next block is read on the thread pool while the caller works on this one. A buffer
 * is read into again three blocks later: callers finish with a block's chunks (hashed, recorded,
 * written) by then.
 */
class Blocks {
  private k = 0;
  private carry = 0;
  private cur: Block | null = null;
  /** Bytes read so far. */
  pos = 0;
  /** The read in flight (for cleanup after a failure). */
  reading: Promise<number> | null;

  constructor(
    private readonly bufs: readonly Buffer[],
    private readonly max: number,
    private readonly sizeHint: number,
    private readonly read: (buf: Buffer, pos: number) => Promise<number>,
  ) {
    this.reading = read(bufs[0] as Buffer, 0);
  }

  async next(): Promise<Block> {
    const got = await (this.reading as Promise<number>);
    this.reading = null;
    const at = this.pos - this.carry;
    this.pos += got;
    const eof = got === 0 || (got < BLOCK_SIZE && this.pos >= this.sizeHint);
    if (!eof) this.reading = this.read(this.bufs[(this.k + 1) % 4] as Buffer, this.pos);
    const cur = this.bufs[this.k % 4] as Buffer;
    this.cur = { cur, from: this.max - this.carry, end: this.max + got, at, eof };
    return this.cur;
  }

  /** Carries the current block from `start` on (a chunk not ended in it) in front of the next. */
  carryOver(start: number): void {
    const b = this.cur as Block;
    this.carry = b.end - start;
    b.cur.copy(this.bufs[(this.k + 1) % 4] as Buffer, this.max - this.carry, start, b.end);
    this.k++;
  }
}

export class Ingest {
  readonly counters: IngestCounters = { chunksNew: 0, bytesStored: 0, chunksCompressed: 0, bytesRead: 0 };
  private bufs: [Buffer, Buffer, Buffer, Buffer] | null = null;
  /** Hashes this snapshot has already dealt with. */
  private readonly seen = new Set<string>();
  /** New raw chunks waiting for the end of the current block (views into the read buffer). */
  private batch: Array<{ hex: string; raw: Uint8Array }> = [];
  private inflightBytes = 0;
  private drained: (() => void) | null = null;
  private drainTo = 0;
  private readonly inflight = new Set<Promise<void>>();
  private failure: unknown = null;
  private readonly slices = new SyncSlices(YIELD_MS);

  private readonly o: IngestOptions & { hashWorker: boolean; hash: HashAlgorithm };
  private readonly stages: StageClock;
  constructor(o: IngestOptions) {
    this.o = { ...o, hashWorker: o.hashWorker ?? HASH_WORKER_AVAILABLE, hash: o.hash ?? 'sha256' };
    this.stages = o.store.stages;
  }

  /** Four read buffers (max + BLOCK_SIZE each) over SharedArrayBuffers the hash worker can read. */
  private buffers(): [Buffer, Buffer, Buffer, Buffer] {
    const size = this.o.chunker.max + BLOCK_SIZE;
    const make = (): Buffer => Buffer.from(new SharedArrayBuffer(size));
    this.bufs ??= [make(), make(), make(), make()];
    return this.bufs;
  }

  /** Yields to the event loop when synchronous work has run for YIELD_MS. */
  maybeYield(): Promise<void> {
    return this.slices.maybeYield();
  }

  /**
   * Chunks an open file to its end (until a read returns 0 bytes, or a short read once
   * `sizeHint` bytes have been read). Returns the bytes chunked and the chunk list.
   */
  async file(
    fd: number,
    sizeHint: number,
    prev?: readonly ChunkRef[],
    progress?: (chunks: readonly ChunkRef[], done: boolean) => void,
  ): Promise<{ size: number; chunks: ChunkRef[] }> {
    if (sizeHint > SYNC_READ_MAX)
      return prev && prev.length > 1
        ? this.rechunked(fd, sizeHint, prev, progress)
        : this.pipelined(fd, sizeHint, progress);
    const { chunker } = this.o;
    const max = chunker.max;
    const [a, b] = this.buffers();
    let cur = a;
    let next = b;
    const chunks: ChunkRef[] = [];
    let pos = 0;
    let carry = 0;
    for (;;) {
      const reading = this.stages.begin('read');
      const got = fs.readSync(fd, cur, max, BLOCK_SIZE, pos);
      reading(got);
      pos += got;
      const eof = got === 0 || (got < BLOCK_SIZE && pos >= sizeHint);
      let start = max - carry;
      const end = max + got;
      try {
        while (start < end && (eof || end - start >= max)) {
          const from = start;
          const cut = this.stages.time('cut', 0, () => chunker.cut(cur, from, end));
          this.chunk(cur, start, cut, chunks);
          start = cut;
        }
      } finally {
        this.flush(); // before `cur` is reused
      }
      if (this.failure) throw this.failure;
      if (this.o.signal?.aborted) throw new AgentError(499, 'cancelled', 'snapshot cancelled', false);
      if (eof) break;
      carry = end - start;
      cur.copy(next, max - carry, start, end);
      [cur, next] = [next, cur];
      if (this.inflightBytes > MAX_INFLIGHT_BYTES) await this.drain(MAX_INFLIGHT_BYTES / 2);
      await this.maybeYield();
    }
    this.counters.bytesRead += pos;
    return { size: pos, chunks };
  }

  /**
   * A large file, as a pipeline over four buffers: read block k+1 (thread pool) while cutting
   * block k on this thread, hashing block k-1 on the hash worker and writing block k-2's new
   * chunks (thread pool, one write in flight). A buffer is read into again only after its block
   * has been hashed, recorded and written.
   */
  private async pipelined(
    fd: number,
    sizeHint: number,
    progress?: (chunks: readonly ChunkRef[], done: boolean) => void,
  ): Promise<{ size: number; chunks: ChunkRef[] }> {
    const { chunker } = this.o;
    const max = chunker.max;
    const blocks = this.blocks(fd, sizeHint);
    const chunks: ChunkRef[] = [];
    let hashing: Job | null = null;
    let writing: Promise<void> | null = null;
    const commit = async (job: Job): Promise<void> => {
      const hashes = await job.hashes;
      if (writing) await writing; // one write in flight: the pack keeps a single sequential writer
      writing = null;
      for (let i = 0; i < hashes.length; i++) {
        this.record(
          job.buf,
          job.cuts[2 * i] as number,
          job.cuts[2 * i + 1] as number,
          hashes[i] as string,
          chunks,
        );
      }
      writing = this.flushAsync();
      progress?.(chunks, false);
    };
    try {
      for (;;) {
        const { cur, from, end, eof } = await blocks.next();
        let start = from;
        const cuts: number[] = [];
        const cutting = this.stages.begin('cut');
        while (start < end && (eof || end - start >= max)) {
          const cut = chunker.cut(cur, start, end);
          cuts.push(start, cut);
          start = cut;
        }
        cutting(start - from);
        if (!eof) blocks.carryOver(start);
        const c = Int32Array.from(cuts);
        const prev: Job | null = hashing;
        hashing = {
          buf: cur,
          cuts: c,
          hashes: this.stages.wait('hash', start - from, hashRanges(cur, c, this.o.hash, !this.o.hashWorker)),
        };
        if (prev) await commit(prev);
        await this.nextBlock();
        if (eof) break;
      }
      const last: Job = hashing as Job;
      await commit(last);
      hashing = null;
      const w: Promise<void> | null = writing;
      writing = null;
      await w;
      progress?.(chunks, true);
    } catch (err) {
      await this.quiesce([blocks.reading, (hashing as Job | null)?.hashes, writing]);
      throw err;
    }
    if (this.failure) throw this.failure;
    this.counters.bytesRead += blocks.pos;
    return { size: blocks.pos, chunks };
  }

  /**
   * A large file that changed since the parent snapshot, whose chunks there were `prev`: chunked to
   * exactly the cut points pipelined() would find, but where one of `prev`'s chunks starts at the
   * current cut, the bytes it spans are hashed first, and if they hash to that chunk it is taken
   * as the next chunk without scanning for its cut point. Why that is exact: a cut point depends
   * only on the bytes from the chunk's start up to it (FastCDC scans from start + min, with masks
   * relative to the start, up to start + max), so identical bytes give the identical cut; the
   * previous version's last chunk is never taken this way (its end may be the old end of file,
   * not a cut point). Where the bytes differ the chunk is cut as usual, and the next cut that
   * lands on a start of `prev`'s chunks picks the previous version up again.
   * Why: for a file rewritten in place (a database's pages, an append) most chunks are unchanged,
   * and hashing them is work the snapshot does anyway, while the cut scan is not needed for them;
   * the hashing is split between this thread and the hash worker, so both cores hash where one
   * cut and one hashed before. The 512 MiB benchmark's append-10MiB (a 430 MiB file), 3
   * interleaved runs each: source + destination CPU 1.06-1.12 -> 0.78-0.87 s, snapshot 647-755 ->
   * 561-626 ms.
   * Each block is read on the thread pool while the one before is hashed and cut, and its new
   * chunks written (one write in flight) while the next is read, as in pipelined().
   */
  private async rechunked(
    fd: number,
    sizeHint: number,
    prev: readonly ChunkRef[],
    progress?: (chunks: readonly ChunkRef[], done: boolean) => void,
  ): Promise<{ size: number; chunks: ChunkRef[] }> {
    const { chunker } = this.o;
    const max = chunker.max;
    const prevAt: number[] = [];
    for (let i = 0, off = 0; i < prev.length; off += (prev[i] as ChunkRef)[1], i++) prevAt.push(off);
    const last = prev.length - 1; // never taken unscanned (see above)
    let pi = 0;
    const blocks = this.blocks(fd, sizeHint);
    const chunks: ChunkRef[] = [];
    let writing: Promise<void> | null = null;
    try {
      for (;;) {
        const { cur, from, end, eof, at } = await blocks.next();
        // The previous version's chunks that lie wholly in this block and start where a chunk may
        // still be cut in it, as [start, end) positions in `cur`, and whether they are unchanged.
        while (pi < last && (prevAt[pi] as number) < at) pi++;
        const spans: number[] = [];
        const lastStart = eof ? end - 1 : end - max;
        for (let i = pi; i < last; i++) {
          const x = from + (prevAt[i] as number) - at;
          const len = (prev[i] as ChunkRef)[1];
          if (x > lastStart || x + len > end) break;
          spans.push(x, x + len);
        }
        const hashes = await this.hashSpans(cur, spans);
        const same = new Map<number, { end: number; hex: string }>();
        for (let i = 0; i < spans.length; i += 2) {
          const hex = hashes[i / 2] as string;
          if (hex === (prev[pi + i / 2] as ChunkRef)[0])
            same.set(spans[i] as number, { end: spans[i + 1] as number, hex });
        }
        let start = from;
        while (start < end && (eof || end - start >= max)) {
          const kept = same.get(start);
          if (kept) {
            this.record(cur, start, kept.end, kept.hex, chunks);
            start = kept.end;
            continue;
          }
          const s0 = start;
          const cut = this.stages.time('cut', 0, () => chunker.cut(cur, s0, end));
          this.chunk(cur, start, cut, chunks);
          start = cut;
        }
        if (!eof) blocks.carryOver(start);
        progress?.(chunks, false); // before the block's new chunks land (onChunk)
        if (writing) await writing; // one write in flight: the pack keeps a single sequential writer
        writing = this.flushAsync();
        await this.nextBlock();
        if (eof) break;
      }
      const w: Promise<void> | null = writing;
      writing = null;
      await w;
      progress?.(chunks, true);
    } catch (err) {
      await this.quiesce([blocks.reading, writing]);
      throw err;
    }
    if (this.failure) throw this.failure;
    this.counters.bytesRead += blocks.pos;
    return { size: blocks.pos, chunks };
  }

  /**
   * The hash of each span `buf[spans[2i], spans[2i+1])`: the hash worker takes the second half
   * while this thread hashes the first (all on this thread without a worker).
   */
  private async hashSpans(buf: Buffer, spans: readonly number[]): Promise<string[]> {
    const half = 2 * Math.floor(spans.length / 4);
    const bytes = (a: number, b: number): number =>
      b > a ? (spans[b - 1] as number) - (spans[a] as number) : 0;
    const theirs = this.stages.wait(
      'hash',
      bytes(half, spans.length),
      spans.length > half
        ? hashRanges(buf, Int32Array.from(spans.slice(half)), this.o.hash, !this.o.hashWorker)
        : Promise.resolve([]),
    );
    const mine: string[] = [];
    try {
      const hashing = this.stages.begin('hash');
      for (let i = 0; i < half; i += 2)
        mine.push(hashHex(buf.subarray(spans[i] as number, spans[i + 1] as number), this.o.hash));
      hashing(bytes(0, half));
    } catch (err) {
      await theirs.catch(() => []);
      throw err;
    }
    return mine.concat(await theirs);
  }

  /** A large file's blocks, read into this snapshot's buffers (Blocks). */
  private blocks(fd: number, sizeHint: number): Blocks {
    const max = this.o.chunker.max;
    return new Blocks(this.buffers(), max, sizeHint, (buf, pos) => this.read(fd, buf, max, pos));
  }

  /**
   * Between two blocks of a large file: stops on a failed write or a cancel, and waits while too
   * many compressible chunks are in flight.
   */
  private async nextBlock(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.o.signal?.aborted) throw new AgentError(499, 'cancelled', 'snapshot cancelled', false);
    if (this.inflightBytes > MAX_INFLIGHT_BYTES) await this.drain(MAX_INFLIGHT_BYTES / 2);
  }

  /**
   * After a large file failed: waits for its reads, hashing and writes in flight (ignoring their
   * failures), so the caller never closes the fd or reuses a buffer under them.
   */
  private async quiesce(work: ReadonlyArray<Promise<unknown> | null | undefined>): Promise<void> {
    this.batch = [];
    for (const w of work) await w?.catch(() => undefined);
  }

  /** Writes the batched raw chunks on the thread pool; they must stay untouched until it settles. */
  private flushAsync(): Promise<void> | null {
    if (this.batch.length === 0) return null;
    const batch = this.batch;
    this.batch = [];
    return this.o.store.appendRawBatchAsync(batch).then((list) => this.landed(batch, list));
  }

  private chunk(buf: Buffer, start: number, end: number, chunks: ChunkRef[]): void {
    const hex = this.stages.time('hash', end - start, () => hashHex(buf.subarray(start, end), this.o.hash));
    this.record(buf, start, end, hex, chunks);
  }

  /** One block read on the thread pool, timed as the `read` stage. */
  private read(fd: number, buf: Buffer, max: number, pos: number): Promise<number> {
    const end = this.stages.begin('read');
    return readAsync(fd, buf, max, BLOCK_SIZE, pos).then(
      (n) => {
        end(n);
        return n;
      },
      (err: unknown) => {
        end();
        throw err;
      },
    );
  }

  private record(buf: Buffer, start: number, end: number, hex: string, chunks: ChunkRef[]): void {
    const raw = buf.subarray(start, end);
    const size = end - start;
    chunks.push([hex, size]);
    this.o.onBytes?.(size);
    if (this.seen.has(hex)) return;
    this.seen.add(hex);
    const { store, pin } = this.o;
    pin.add(hex);
    if (store.has(hex)) {
      if (!this.o.full) this.o.onChunk?.({ hash: hex, size, stored: false });
      else this.put(hex, Buffer.from(raw), true); // re-verify the stored copy
      return;
    }
    if (this.o.compress && worthCompressing(raw)) this.put(hex, Buffer.from(raw), false);
    else this.batch.push({ hex, raw });
  }

  /** Writes the batched raw chunks (views into the current buffer). */
  private flush(): void {
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.landed(batch, this.o.store.appendRawBatch(batch));
  }

  private landed(batch: Array<{ hex: string; raw: Uint8Array }>, list: string[]): void {
    const written = new Set(list);
    for (const { hex, raw } of batch) {
      if (written.has(hex)) {
        this.counters.chunksNew++;
        this.counters.bytesStored += raw.length + 1;
      }
      this.o.onChunk?.({ hash: hex, size: raw.length, stored: written.has(hex) });
    }
  }

  private put(hex: string, raw: Buffer, verify: boolean): void {
    this.inflightBytes += raw.length;
    const p = this.o.store
      .put(hex, raw, { compress: this.o.compress, pin: this.o.pin, verify })
      .then(
        (r) => {
          if (r.written) {
            this.counters.chunksNew++;
            this.counters.bytesStored += r.storedBytes;
            if (r.compressed) this.counters.chunksCompressed++;
          }
          this.o.onChunk?.({ hash: hex, size: raw.length, stored: r.written });
        },
        (err: unknown) => {
          this.failure ??= err;
        },
      )
      .finally(() => {
        this.inflightBytes -= raw.length;
        this.inflight.delete(p);
        if (this.drained && this.inflightBytes <= this.drainTo) {
          const d = this.drained;
          this.drained = null;
          d();
        }
      });
    this.inflight.add(p);
  }

  private drain(to: number): Promise<void> {
    if (this.inflightBytes <= to) return Promise.resolve();
    this.drainTo = to;
    return new Promise((r) => (this.drained = r));
  }

  /** Waits for every chunk in flight; throws the first failure. */
  async finish(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    if (this.failure) throw this.failure;
  }

  /** Waits for chunks in flight, ignoring failures (cleanup after an error). */
  async settle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }
}
