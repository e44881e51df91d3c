// Destination side of the bulk protocol (wire.ts): answering `have` queries and accepting
// chunk uploads. Every received chunk is decoded (bounded by its declared raw length and the
// configured chunk limit) and its hash compared with the name it was sent under before it is
// stored; the first mismatch stops the upload with 422 naming the chunk. Chunks verified before
// the mismatch are kept (their content is correct by construction).
//
// Storing verified chunks, two ways. By default each chunk is appended to the chunk store at once,
// with one synchronous buffered write: it is copied into the page cache while it is still in the
// CPU cache from being decoded and hashed. With `batch` (the agent asks for it once an upload
// session has brought many chunks, DIRECT_AFTER_CHUNKS in routes.ts), chunks are copied into a
// 4 MiB batch buffer and each full batch appended as one run on the thread pool, O_DIRECT where
// the filesystem takes it, while the next batch fills the other buffer. Why both, measured on the
// 2-core reference VM (bench/datapath --tools ferry --scenarios 1, interleaved runs): batches made
// a 512 MiB full copy slower (4.42-5.42 s -> 5.27-5.92 s: the commit then reads every chunk back
// from the device) and a 2 GiB one faster (25.9-26.9 s -> 23.8-24.4 s, destination CPU 18.3-18.7
// -> 15.8-16.5 s: gigabytes of page-cache writes meet the kernel's dirty-page throttling). A
// batched chunk counts as stored when its batch has landed; the upload answers only after the
// last batch has, so a chunk the answer lists is in the store.
//
// A verified chunk that a large file being written expects next is handed to it (`divert`, build.ts)
// instead of being stored: it is written once, into that file, and counts as stored.
//
// A frame may instead carry a sub-chunk delta (delta.ts, encoding byte 0x02): the chunk is rebuilt
// from base chunks this store holds, and the rebuilt bytes must hash to the frame's name (else 422,
// as for a whole chunk). A delta naming a base this store lacks is skipped, not refused: its hash
// is listed in `needWhole` so the sender sends that chunk whole.
import type { ChunkStore, Pin } from '../store/chunk-store.js';
import { decodeChunk } from '../store/chunk-codec.js';
import { applyDelta, copyRuns, deltaBases, ENC_DELTA } from '../protocol/delta.js';
import type { KnownRanges } from './known-ranges.js';
import { AgentError, badRequest, hashMismatch, tooLarge } from '../errors.js';
import { DEFAULT_HASH, HASH_BYTES, type HashAlgorithm, hashHex, nameMatches } from '../store/hash.js';
import type { Limits } from '../protocol/limits.js';
import { ByteQueue, FRAME_HEADER } from '../protocol/wire.js';

export async function answerHave(
  store: ChunkStore,
  body: Buffer,
  opts: { verify: boolean; pin?: Pin; limits: Limits },
): Promise<Buffer> {
  if (body.length % HASH_BYTES !== 0)
    throw badRequest(`have: body of ${body.length} bytes is not a whole number of ${HASH_BYTES}-byte hashes`);
  const n = body.length / HASH_BYTES;
  if (n > opts.limits.maxHaveHashes)
    throw tooLarge(`have: ${n} hashes exceed the limit of ${opts.limits.maxHaveHashes} per query`);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    const hex = body.toString('hex', i * HASH_BYTES, (i + 1) * HASH_BYTES);
    let present = store.holds(hex);
    if (present && opts.verify) present = await store.verify(hex);
    if (present) {
      out[i] = 1;
      opts.pin?.add(hex);
    }
  }
  return out;
}

const DRAIN_LIMIT = 64 * 1024 * 1024;
/**
 * Deltas of one upload rebuilt at once. Why: each needs its base chunks, written long before and
 * read from the device; read synchronously one at a time they kept the destination's event loop
 * blocked for most of a 2 GiB pages-1pct transfer (4,100 deltas, pread 0.26 ms on average, perf
 * trace), while the thread pool can have several reads in flight.
 */
const REBUILDS_IN_FLIGHT = 16;
/** Bytes of verified chunks gathered before they are appended to the store as one run. */
const RECEIVE_BATCH_BYTES = 4 * 1024 * 1024;

/**
 * Verified chunks on their way into the store: two buffers, one filling while the other's chunks
 * are being appended, so at most one batch is in flight per upload and memory stays at two buffers.
 */
class StoreBatches {
  private readonly bufs: [Buffer, Buffer];
  private used = 0;
  private items: Array<{ hex: string; stored: Buffer }> = [];
  private inFlight: Promise<void> = Promise.resolve();
  /** Chunks gathered or in flight, not yet in the store's index. */
  readonly pending = new Set<string>();

  constructor(
    private readonly store: ChunkStore,
    size: number,
    private readonly onLanded: (
      items: ReadonlyArray<{ hex: string; stored: Buffer }>,
      written: Set<string>,
    ) => void,
  ) {
    this.bufs = [Buffer.allocUnsafeSlow(size), Buffer.allocUnsafeSlow(size)];
  }

  /** Where the next frame of `n` bytes may be received (flushing first when this batch is full). */
  async slot(n: number): Promise<Buffer> {
    if (this.used + n > this.bufs[0].length) await this.flush();
    return this.bufs[0].subarray(this.used, this.used + n);
  }

  /** Adds a verified chunk: `stored` is its slot (or anything else, then copied into it). */
  add(hex: string, stored: Buffer): void {
    const buf = this.bufs[0];
    const at = buf.byteOffset + this.used;
    if (stored.buffer !== buf.buffer || stored.byteOffset !== at) stored.copy(buf, this.used);
    this.items.push({ hex, stored: buf.subarray(this.used, this.used + stored.length) });
    this.used += stored.length;
    this.pending.add(hex);
  }

  /** Starts appending the gathered chunks once the batch before them has landed. */
  async flush(): Promise<void> {
    await this.inFlight;
    if (this.items.length === 0) return;
    const items = this.items;
    this.items = [];
    this.used = 0;
    this.bufs.reverse();
    this.inFlight = this.store
      .appendStoredBatchAsync(items)
      .then((written) => this.onLanded(items, new Set(written)))
      .finally(() => {
        for (const it of items) this.pending.delete(it.hex);
      });
  }

  /** Every gathered chunk in the store (or the first write error). */
  async drain(): Promise<void> {
    await this.flush();
    await this.inFlight;
  }
}

export interface ReceiveResult {
  received: number;
  stored: number;
  duplicates: number;
  bytes: number;
  /** Chunks received as deltas and rebuilt. */
  deltas: number;
  /** Chunks sent as deltas against bases this store lacks: send them whole. */
  needWhole: string[];
}

export async function receiveChunks(
  store: ChunkStore,
  body: AsyncIterable<Buffer>,
  opts: {
    pin?: Pin;
    limits: Limits;
    compress?: boolean;
    onChunk?: (storedBytes: number, wasNew: boolean) => void;
    /** Gather verified chunks into batches appended on the thread pool (see the file's header). */
    batch?: boolean;
    /** The algorithm the sender names chunks by (X-Ferry-Hash), checked first. */
    hash?: HashAlgorithm;
    /** Told which ranges of each chunk rebuilt from a delta are copies of its bases. */
    ranges?: KnownRanges;
    /** Offered each new verified chunk (its raw bytes, to copy); true: taken, not to be stored. */
    divert?: (hex: string, raw: Uint8Array) => boolean;
  },
): Promise<ReceiveResult> {
  const q = new ByteQueue();
  const res: ReceiveResult = { received: 0, stored: 0, duplicates: 0, bytes: 0, deltas: 0, needWhole: [] };
  const maxRaw = opts.limits.maxChunkSize;
  const alg = opts.hash ?? DEFAULT_HASH;
  const batches = opts.batch
    ? new StoreBatches(store, Math.max(RECEIVE_BATCH_BYTES, maxRaw + 1), (items, written) => {
        for (const { hex, stored } of items) {
          const wasNew = written.has(hex);
          if (wasNew) res.stored++;
          else res.duplicates++;
          opts.onChunk?.(stored.length, wasNew);
        }
      })
    : null;
  // Unbatched, frames spanning parts are taken into one scratch buffer reused for the whole
  // upload: nothing keeps `stored` once the frame is handled, the pack write being synchronous.
  const scratch = batches ? undefined : Buffer.allocUnsafeSlow(maxRaw + 1);
  let header: { hash: Buffer; rawLen: number; storedLen: number } | null = null;
  let total = 0;
  // Deltas being rebuilt, by chunk. Their bases are read on the thread pool, several at once,
  // while the next frames are parsed (REBUILDS_IN_FLIGHT); they are stored in the order they
  // came, each after the one before, so nothing after a refused delta is stored.
  const rebuilding = new Map<string, Promise<void>>();
  let inOrder: Promise<void> = Promise.resolve();
  let rebuildFailure: unknown = null;
  /** The rebuilt chunk, or null when a base turned out corrupt (dropped): send it whole. */
  const rebuildBytes = async (
    expected: string,
    payload: Buffer,
    names: string[],
    rawLen: number,
  ): Promise<Buffer | null> => {
    // a base gone meanwhile (a restore point file retired under it, file-chunks.ts): send it whole
    const bases = await Promise.all(names.map((b) => store.readRawAsync(b))).catch(() => null);
    if (!bases) return null;
    try {
      return applyDelta(payload, bases, rawLen, expected, alg);
    } catch (err) {
      // A drifted (corrupt) base rebuilds the wrong bytes through no fault of the sender:
      // re-verify the bases; if one is bad (now dropped) ask for the chunk whole instead.
      if (!(err instanceof AgentError && err.code === 'hash_mismatch')) throw err;
      let drifted = false;
      for (const b of names) if (!(await store.verify(b))) drifted = true;
      if (!drifted) throw err;
      return null;
    }
  };
  const keep = async (
    expected: string,
    payload: Buffer,
    names: string[],
    raw: Buffer | null,
  ): Promise<void> => {
    res.bytes += payload.length;
    if (!raw) {
      res.needWhole.push(expected);
      return;
    }
    opts.ranges?.add(expected, copyRuns(payload, names));
    const { written } = await store.put(expected, raw, {
      compress: opts.compress ?? true,
      ...(opts.pin ? { pin: opts.pin } : {}),
    });
    res.received++;
    res.deltas++;
    if (written) res.stored++;
    else res.duplicates++;
    opts.onChunk?.(payload.length, written);
  };
  const drain = async (): Promise<void> => {
    for (;;) {
      if (!header) {
        if (q.length < FRAME_HEADER) return;
        const h = q.take(FRAME_HEADER);
        const rawLen = h.readUInt32BE(HASH_BYTES);
        const storedLen = h.readUInt32BE(HASH_BYTES + 4);
        const hash = Buffer.from(h.subarray(0, HASH_BYTES));
        if (rawLen === 0) throw badRequest(`chunk ${hash.toString('hex')}: raw length 0`);
        if (rawLen > maxRaw)
          throw tooLarge(
            `chunk ${hash.toString('hex')}: raw length ${rawLen} exceeds the chunk limit of ${maxRaw} bytes`,
          );
        if (storedLen === 0 || storedLen > rawLen + 1) {
          throw tooLarge(
            `chunk ${hash.toString('hex')}: stored length ${storedLen} is out of bounds for raw length ${rawLen}`,
          );
        }
        header = { hash, rawLen, storedLen };
      }
      if (q.length < header.storedLen) return;
      // Straight into the batch when the frame spans parts (a 64 KiB chunk spans the ~16 KiB TLS
      // records it arrived in), so a chunk is copied once on its way to the store.
      const stored = q.take(header.storedLen, batches ? await batches.slot(header.storedLen) : scratch);
      const { hash, rawLen } = header;
      header = null;
      const expected = hash.toString('hex');
      if (stored[0] === ENC_DELTA) {
        const names = deltaBases(stored, expected);
        // A base still in a batch is stored first (a chunk and its delta often share an upload),
        // and one being rebuilt from a delta earlier in this upload is waited for.
        if (batches && names.some((b) => batches.pending.has(b))) await batches.drain();
        for (const b of [...names, expected]) await rebuilding.get(b);
        if (!names.every((b) => store.holds(b))) {
          res.needWhole.push(expected);
          res.bytes += stored.length;
          continue;
        }
        for (const b of names) opts.pin?.add(b);
        while (rebuilding.size >= REBUILDS_IN_FLIGHT) await Promise.race(rebuilding.values());
        // `stored` may be the upload's scratch buffer, reused by the next frame
        const payload = Buffer.from(stored);
        const bytes = rebuildBytes(expected, payload, names, rawLen);
        bytes.catch(() => undefined); // seen by its step below
        const step = inOrder.then(async () => {
          if (rebuildFailure) return;
          try {
            await keep(expected, payload, names, await bytes);
          } catch (err) {
            rebuildFailure = err;
          }
        });
        inOrder = step;
        rebuilding.set(expected, step);
        void step.then(() => rebuilding.delete(expected));
        if (rebuildFailure) throw rebuildFailure;
        continue;
      }
      const verifying = store.stages.begin('verify');
      let actual: string | null = null;
      let raw: Buffer;
      try {
        raw = await decodeChunk(stored, Math.min(rawLen, maxRaw));
        if (raw.length !== rawLen)
          throw hashMismatch(`chunk ${expected}: decoded to ${raw.length} bytes, declared ${rawLen}`);
        if (!nameMatches(raw, expected, alg)) actual = hashHex(raw, alg);
      } finally {
        verifying(rawLen);
      }
      if (actual !== null)
        throw hashMismatch(`chunk ${expected}: content hashes to ${actual} (${alg}); chunk refused`);
      res.received++;
      res.bytes += stored.length;
      // held already (a pack, a restore-point file, a batch on its way): nothing to write
      if (store.holds(expected) || batches?.pending.has(expected)) {
        opts.pin?.add(expected);
        res.duplicates++;
        opts.onChunk?.(stored.length, false);
        continue;
      }
      if (opts.divert?.(expected, raw)) {
        opts.pin?.add(expected);
        res.stored++;
        opts.onChunk?.(stored.length, true);
        continue;
      }
      if (!batches) {
        const wasNew = await store.putStored(expected, stored, opts.pin);
        if (wasNew) res.stored++;
        else res.duplicates++;
        opts.onChunk?.(stored.length, wasNew);
        continue;
      }
      opts.pin?.add(expected);
      batches.add(expected, stored);
    }
  };
  // After a refusal keep reading (and discarding) the rest of the body, up to a bound, so the
  // connection survives to carry the error answer; leaving the loop early would reset it.
  let failure: unknown = null;
  let discarded = 0;
  for await (const piece of body) {
    if (failure) {
      discarded += piece.length;
      if (discarded > DRAIN_LIMIT) break;
      continue;
    }
    total += piece.length;
    if (total > opts.limits.maxBatchBytes) {
      failure = tooLarge(`chunk upload exceeds the limit of ${opts.limits.maxBatchBytes} bytes per request`);
      continue;
    }
    q.push(piece);
    try {
      await drain();
    } catch (err) {
      failure = err;
    }
  }
  await Promise.all(rebuilding.values());
  failure ??= rebuildFailure;
  // Chunks verified before a refusal are kept, as the answer says.
  if (failure) {
    await batches?.drain().catch(() => {});
    throw failure;
  }
  await batches?.drain();
  if (header || q.length > 0) throw badRequest('chunk upload ends inside a frame (truncated body)');
  return res;
}
