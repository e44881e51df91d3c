// Source side: moving chunks to the destination for a replication (replication-plan.ts decides what
// must move; this file moves it). sendChunks uploads a list of chunks over `concurrency` parallel
// streaming uploads of <= 8 MiB each, as sub-chunk deltas where a candidate makes them smaller
// (delta.ts); openStream pushes the chunks a snapshot stores while it is being taken, a few
// batches (a `have` query, then the missing chunks' uploads) in flight at once.
import type { ReplicationRequest, ReplicationStatus } from '../protocol/agent-api.js';
import type { ChunkStore, RecordRun } from '../store/chunk-store.js';
import type { AgentClient } from '../client/client.js';
import { AgentError } from '../errors.js';
import { decodeChunk } from '../store/chunk-codec.js';
import { BaseFile, type DeltaCandidate, encodeDelta } from '../protocol/delta.js';
import { type ChunkRef, type Manifest, manifestChunks } from '../protocol/manifest.js';
import type { ChunkEvent } from './snapshot.js';
import { FRAME_HEADER, writeFrameHeader } from '../protocol/wire.js';
import { ReadsAhead } from './reads-ahead.js';
import { RECORD_HEADER } from '../store/pack.js';
import type { HashAlgorithm } from '../store/hash.js';

/** Chunks per `have` query while streaming during the snapshot (~16 MiB of average chunks). */
const STREAM_BATCH = 256;
/** Streamed batches in flight at once (each: a `have` query, then up to `concurrency` uploads). */
const STREAM_IN_FLIGHT = 3;
const UPLOAD_BATCH_BYTES = 8 * 1024 * 1024;
/**
 * Frames are handed to the upload in writes of about this many bytes, not two writes per chunk.
 * Why: every write on a chunked HTTPS request becomes its own chunk-size line, TLS records and
 * socket writes, so the 40-byte frame header and each 64 KiB chunk cost three small TLS records
 * apiece. Measured on the 2-core reference machine (512 MiB through node:https on loopback):
 * 105-112 MB/s and 2.1 CPU-s with two writes per chunk, 232-318 MB/s and 1.45-1.75 CPU-s with
 * 1 MiB writes.
 */
const WRITE_BYTES = 1024 * 1024;
/**
 * Flushed write buffers kept for reuse. Why: a fresh 1.3 MiB buffer per write is external memory
 * to V8, and 512 MiB of them made it run a full mark-compact about every 100 ms of a full copy
 * (36 in 5 s, `--trace-gc`: "GC in old space requested" after "external memory pressure").
 */
const WRITE_POOL = 16;
/**
 * Chunks ahead of the one being sent whose delta bases are read on the thread pool meanwhile. Why:
 * bases are previous versions of changed chunks, written with O_DIRECT by an earlier snapshot and
 * not in the page cache; read synchronously one at a time they were 180 ms of the source's event
 * loop in the 512 MiB pages-1pct transfer (cpuprofile).
 */
const BASES_AHEAD = 32;

/** A restore point of the destination that is one of this agent's snapshots, held while in use. */
export interface StreamBase {
  manifest: Manifest;
  release: () => void;
}

/**
 * The restore point a delta-mode stream encodes against (openStream), its lookups built on first
 * use: a replication that rereads no large file (touched or unchanged files) builds none.
 */
class HeldBase {
  private known?: Set<string>;
  private entries?: Map<string, readonly ChunkRef[]>;
  private readonly files = new Map<string, BaseFile | null>();

  constructor(readonly held: StreamBase) {}

  /** Whether the restore point has chunk `h` (the destination holds it: not even asked about). */
  has(h: string): boolean {
    return (this.known ??= new Set(manifestChunks(this.held.manifest).keys())).has(h);
  }

  /** What the chunk at [at, at + len) of file `path` may be encoded against, or null. */
  candidate(path: string, at: number, len: number): DeltaCandidate | null {
    let f = this.files.get(path);
    if (f === undefined) {
      if (!this.entries) {
        this.entries = new Map();
        for (const e of this.held.manifest.entries) if (e.type === 'file') this.entries.set(e.path, e.chunks);
      }
      const chunks = this.entries.get(path);
      this.files.set(path, (f = chunks && chunks.length > 0 ? new BaseFile(chunks) : null));
    }
    return f?.candidate(at, at + len) ?? null;
  }
}

export interface PushEvents {
  onBytesSent?: (bytes: number) => void;
  onChunksSent?: (n: number) => void;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

/** What a push reads and updates of its replication. */
export interface PushJob {
  status: ReplicationStatus;
  request: ReplicationRequest;
  abort: AbortController;
  lastProgressAt: number;
  /** Chunks streamed during the snapshot and known to be at the destination (session-pinned). */
  delivered?: Set<string>;
  /** How the snapshot's chunks are named, told to the destination with each upload. */
  hash?: HashAlgorithm;
}

export class ChunkPusher {
  /** Write buffers the connections have flushed, for the next writes (at most WRITE_POOL). */
  private readonly pool: Buffer[] = [];

  constructor(
    private readonly store: ChunkStore,
    private readonly events: PushEvents,
  ) {}

  async sendChunks(
    j: PushJob,
    dest: AgentClient,
    hashes: string[],
    sizes: Map<string, number>,
    session: string,
    deltas?: Map<string, DeltaCandidate>,
  ): Promise<string[]> {
    const s = j.status;
    const needWhole: string[] = [];
    const signal = j.abort.signal;
    const concurrency = Math.max(1, Math.min(16, j.request.concurrency ?? 3));
    let next = 0;
    // Delta bases of the chunks about to be sent, read ahead on the thread pool (BASES_AHEAD
    // chunks' worth): read one at a time, each was a synchronous device read on the event loop.
    // A base is kept until the last chunk ahead that names it has used it: neighbouring chunks
    // often share one, and taking it at its first use left the second to read it synchronously
    // (101 of the 155 ms of synchronous reads on the source's event loop in the 512 MiB
    // pages-1pct transfer, cpuprofile). The chunk itself is still read synchronously, straight
    // into its frame: reading it ahead too took a fresh 64 KiB buffer and a copy per chunk, and
    // the build that did used more CPU in the 2 GiB delta scenarios (pages-1pct 6.42 -> 7.20 s,
    // 2 interleaved pairs against the build before either change).
    const bases = new ReadsAhead((h) => this.store.readRawAsync(h));
    let fetched = 0;
    const readAhead = (): void => {
      if (!deltas) return;
      for (
        fetched = Math.max(fetched, next);
        fetched < Math.min(hashes.length, next + BASES_AHEAD);
        fetched++
      ) {
        for (const b of deltas.get(hashes[fetched] as string)?.bases ?? []) bases.want(b.hash);
      }
    };
    const worker = async (): Promise<void> => {
      while (next < hashes.length) {
        if (signal.aborted) throw signal.reason;
        const sending = this.store.stages.begin('send');
        const upload = await dest
          .openChunkUpload({ session, signal, ...(j.hash ? { hash: j.hash } : {}) })
          .catch((err: unknown) => {
            sending();
            throw err;
          });
        const batch: string[] = [];
        let batchBytes = 0;
        let wire = 0;
        // Frames are built in place: each chunk is read from the store straight into the buffer
        // of the next write, behind its header. A buffer goes back to the pool once the connection
        // has flushed it (not when write() returns: the socket may still hold it then).
        let out = this.writeBuffer();
        let used = 0;
        const flush = async (): Promise<void> => {
          if (used === 0) return;
          const buf = out;
          out = this.writeBuffer();
          const data = buf.subarray(0, used);
          used = 0;
          await upload.write(data, () => this.returnBuffer(buf));
        };
        try {
          const sent = (h: string, storedLen: number): void => {
            batch.push(h);
            batchBytes += storedLen;
            s.bytesOnWire += FRAME_HEADER + storedLen;
            s.chunkBytesOnWire += storedLen;
            wire += FRAME_HEADER + storedLen;
          };
          while (next < hashes.length && batchBytes < UPLOAD_BATCH_BYTES) {
            if (!deltas?.has(hashes[next] as string)) {
              // Chunks without a delta candidate: as many records as lie back to back in a pack
              // and fit in this write, read in one go; a pack record's header (magic, hash, stored
              // length) has a frame header's size, so each is overwritten with its frame header.
              let to = deltas ? next + 1 : hashes.length;
              while (to < Math.min(hashes.length, next + 1024) && !deltas?.has(hashes[to] as string)) to++;
              // Claimed before the read is awaited: the other uploads take chunks from `next` too.
              let run: RecordRun;
              try {
                run = this.store.recordRun(hashes, next, to, Math.max(WRITE_BYTES - used, 1));
              } catch (err) {
                throw missingChunk(hashes[next] as string, err);
              }
              next += run.recs.length;
              const intact = await this.store.readRecordRun(run, out, used);
              for (const [k, { hex: h }] of run.recs.entries()) {
                let storedLen: number;
                if (k < intact) storedLen = out.readUInt32BE(used + FRAME_HEADER - 4);
                else {
                  if (used + FRAME_HEADER + this.store.maxChunkSize + 1 > out.length) await flush();
                  storedLen = this.readOne(h, out.subarray(used + FRAME_HEADER)).length;
                }
                writeFrameHeader(out, used, h, sizes.get(h) as number, storedLen);
                used += FRAME_HEADER + storedLen;
                sent(h, storedLen);
              }
              if (used >= WRITE_BYTES) await flush();
              continue;
            }
            readAhead();
            const h = hashes[next++] as string;
            const body = out.subarray(used + FRAME_HEADER);
            let stored = this.readOne(h, body);
            const cand = deltas?.get(h);
            if (cand) {
              const d = await this.delta(stored, cand, bases);
              if (d) {
                stored = body.subarray(0, d.copy(body));
                s.chunksDelta++;
              }
            }
            writeFrameHeader(out, used, h, sizes.get(h) as number, stored.length);
            used += FRAME_HEADER + stored.length;
            if (used >= WRITE_BYTES) await flush();
            sent(h, stored.length);
          }
          await flush();
          const answer = await upload.finish();
          for (const h of answer.needWhole ?? []) if (sizes.has(h)) needWhole.push(h);
        } catch (err) {
          upload.abort();
          throw err;
        } finally {
          sending(wire);
        }
        s.chunksSent += batch.length;
        s.bytesDone += batch.reduce((a, h) => a + (sizes.get(h) ?? 0), 0);
        s.bytesDone -= needWhole.reduce((a, h) => a + (batch.includes(h) ? (sizes.get(h) ?? 0) : 0), 0);
        j.lastProgressAt = Date.now();
        this.events.onBytesSent?.(wire);
        this.events.onChunksSent?.(batch.length);
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(concurrency, Math.ceil(hashes.length / 4) || 1) }, worker),
    );
    return needWhole;
  }

  /**
   * Streaming during the snapshot: each chunk the snapshot reads is queued as soon as it is in the
   * store; batches are asked about (`have`, verified when full) and the missing ones sent at once,
   * so the transfer overlaps the snapshot instead of following it. Chunks confirmed at the
   * destination are remembered in `j.delivered` (pinned there by the session) and skipped by
   * planning. Best effort: a failure stops the stream quietly and planning sends whatever did not
   * make it.
   *
   * What is streamed depends on the destination's answer to "your restore point of the volume?",
   * asked now; the snapshot starts without waiting for it (chunks read meanwhile are queued):
   *  * full, or no restore point yet: every chunk, whole;
   *  * a restore point that is one of this agent's snapshots (`baseFor` holds it, so no prune
   *    takes its chunks while the stream uses them): the new chunks of the large files read again
   *    (changed), placed by `place` (the snapshot's onRereadChunks), each as a delta against the
   *    chunks of the same file the restore point has at the same offsets where that is smaller
   *    (delta.ts). Why: without it an incremental replication of a database with pages rewritten
   *    all over its file sent nothing while the snapshot read it, then computed and sent every
   *    delta after (512 MiB pages-1pct: snapshot 468 ms, then transfer 791 ms). Chunks of the
   *    restore point are not even asked about, and chunks placed nowhere (small files, new files)
   *    are left to planning, which deltas small files too;
   *  * otherwise (no answer, or a restore point this agent no longer has): nothing.
   */
  async openStream(
    j: PushJob,
    dest: AgentClient,
    baseFor?: (restorePoint: string) => StreamBase | undefined,
  ): Promise<{
    push: (c: ChunkEvent) => void;
    /** SnapshotOptions.onRereadChunks: where each chunk of a file read again lies. */
    place: (path: string, chunks: readonly ChunkRef[]) => void;
    close: (drain: boolean) => Promise<void>;
  }> {
    const s = j.status;
    const full = s.kind === 'full';
    const delivered = (j.delivered ??= new Set<string>());
    const sizes = new Map<string, number>();
    /** Where each chunk of the files read again first lies: path, file offset, length. */
    const placed = new Map<string, { path: string; at: number; len: number }>();
    const placing = new Map<string, { list: readonly ChunkRef[]; n: number; at: number }>();
    let queue: string[] = [];
    let closed = false;
    let failed = false;
    let wake: (() => void) | null = null;
    const session = s.id;
    const signal = j.abort.signal;
    let mode: 'undecided' | 'whole' | 'delta' | 'off' = 'undecided';
    let base: HeldBase | undefined;
    /** Whether delta mode streams `h`: placed in a file read again, and not the restore point's. */
    const streamsAsDelta = (h: string): boolean => !!base && placed.has(h) && !base.has(h);
    const decided: Promise<void> = (
      full
        ? Promise.resolve<'whole' | 'delta' | 'off'>('whole')
        : dest.findStandby(s.destination.volume, { signal }).then(
            (standby) => {
              if (!standby) return 'off';
              if (!standby.current) return 'whole';
              const b = baseFor?.(standby.current);
              if (!b) return 'off';
              base = new HeldBase(b);
              return 'delta';
            },
            () => 'off' as const,
          )
    ).then((m) => {
      mode = m;
      if (m === 'whole') return;
      // chunks queued before the answer: dropped, or (delta) those delta mode does not stream
      const keep = m === 'delta' ? queue.filter(streamsAsDelta) : [];
      const kept = new Set(keep);
      for (const h of queue) if (!kept.has(h)) sizes.delete(h);
      queue = keep;
    });
    /** Delta candidates of `hashes` (delta mode): the restore point's chunks at their offsets. */
    const candidates = (hashes: string[]): Map<string, DeltaCandidate> | undefined => {
      if (mode !== 'delta' || !base) return undefined;
      const out = new Map<string, DeltaCandidate>();
      for (const h of hashes) {
        const p = placed.get(h);
        const c = p && base.candidate(p.path, p.at, p.len);
        if (c) out.set(h, c);
      }
      return out;
    };
    // One batch = a `have` query, then the missing chunks' uploads. STREAM_IN_FLIGHT batches run at
    // once, so the destination verifies and stores one batch while the next is asked about and
    // sent, instead of the stream stalling on every round trip and falling behind the snapshot.
    const sendBatch = async (batch: string[]): Promise<void> => {
      s.bytesOnWire += batch.length * 32;
      const present = await dest.hasChunks(
        batch.map((h) => Buffer.from(h, 'hex')),
        { verify: full, session, signal },
      );
      const missing = batch.filter((_, k) => !present[k]);
      for (const h of missing) s.bytesTotal += sizes.get(h) ?? 0;
      const need = await this.sendChunks(j, dest, missing, sizes, session, candidates(missing));
      const back = new Set(need);
      for (const h of batch) if (!back.has(h)) delivered.add(h);
    };
    const pump = async (): Promise<void> => {
      await decided;
      if (mode === 'off') return;
      const inFlight = new Set<Promise<void>>();
      let failure: unknown = null;
      try {
        for (;;) {
          if (failure) throw failure;
          if (queue.length < STREAM_BATCH && !closed) {
            await new Promise<void>((r) => (wake = r));
            continue;
          }
          if (queue.length === 0) break;
          const batch = queue.slice(0, STREAM_BATCH);
          queue = queue.slice(batch.length);
          const p: Promise<void> = sendBatch(batch)
            .catch((err: unknown) => {
              failure ??= err;
            })
            .finally(() => inFlight.delete(p));
          inFlight.add(p);
          if (inFlight.size >= STREAM_IN_FLIGHT) await Promise.race(inFlight);
        }
      } finally {
        await Promise.allSettled([...inFlight]);
      }
      if (failure) throw failure;
    };
    const running = pump().catch((err: unknown) => {
      failed = true;
      this.events.log?.('streaming during the snapshot stopped', { id: s.id, error: (err as Error).message });
    });
    return {
      push: (c: ChunkEvent) => {
        if (mode === 'off' || failed || sizes.has(c.hash)) return;
        if (mode === 'delta' && !streamsAsDelta(c.hash)) return;
        sizes.set(c.hash, c.size);
        queue.push(c.hash);
        if (queue.length >= STREAM_BATCH && wake) {
          const w = wake as () => void;
          wake = null;
          w();
        }
      },
      place: (file: string, chunks: readonly ChunkRef[]) => {
        if (full || mode === 'off' || mode === 'whole') return;
        let t = placing.get(file);
        // a file read again (it changed during its read) reports a new list
        if (t?.list !== chunks) placing.set(file, (t = { list: chunks, n: 0, at: 0 }));
        for (; t.n < chunks.length; t.n++) {
          const [h, len] = chunks[t.n] as ChunkRef;
          if (!placed.has(h)) placed.set(h, { path: file, at: t.at, len });
          t.at += len;
        }
      },
      close: async (drain: boolean) => {
        closed = true;
        if (!drain) queue = [];
        if (wake) (wake as () => void)();
        try {
          await running;
        } finally {
          base?.held.release();
        }
      },
    };
  }

  /** A write buffer (WRITE_BYTES plus room for one more frame), from the pool when one is free. */
  private writeBuffer(): Buffer {
    return (
      this.pool.pop() ?? Buffer.allocUnsafeSlow(WRITE_BYTES + FRAME_HEADER + this.store.maxChunkSize + 1)
    );
  }

  private returnBuffer(buf: Buffer): void {
    if (this.pool.length < WRITE_POOL) this.pool.push(buf);
  }

  /** A chunk's stored form read into `into`; a chunk missing from the store fails the push. */
  private readOne(h: string, into: Buffer): Buffer {
    try {
      return this.store.readStoredInto(h, into);
    } catch (err) {
      throw missingChunk(h, err);
    }
  }

  /**
   * The delta form of a chunk (stored form `stored`) when it is smaller, else null; bases come from
   * `ahead` (read ahead, one use taken) or are read now.
   */
  private async delta(stored: Buffer, cand: DeltaCandidate, ahead: ReadsAhead): Promise<Buffer | null> {
    // Taken whatever happens next, so a base read early is not held past its last use.
    const early = cand.bases.map((b) => ahead.take(b.hash));
    try {
      if (!cand.bases.every((b) => this.store.has(b.hash))) return null;
      const raw = await decodeChunk(stored, this.store.maxChunkSize);
      const bases = [];
      for (const [k, b] of cand.bases.entries()) {
        const r = (await early[k]) ?? (await this.store.readRaw(b.hash));
        if (r.length !== b.length) return null;
        bases.push({ hash: b.hash, offset: b.offset, raw: r });
      }
      const d = encodeDelta(raw, cand.offset, bases);
      return d && d.length < stored.length * 0.9 ? d : null;
    } catch {
      return null; // e.g. a base collected meanwhile: send whole
    }
  }
}

function missingChunk(h: string, err: unknown): AgentError {
  return new AgentError(
    500,
    'internal',
    `chunk ${h} is missing from the source store: ${(err as Error).message}`,
    false,
  );
}

// A pack record's header is read in place of a frame header (readRecordRun): same length.
if (FRAME_HEADER !== RECORD_HEADER) throw new Error('frame and record headers differ in length');
