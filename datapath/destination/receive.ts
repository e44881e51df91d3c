// Destination side of the bulk protocol (wire.ts): answering `have` queries and accepting
// chunk uploads. Every received chunk is decoded (bounded by its declared raw length and the
// configured chunk limit) and its SHA-256 compared with the name it was sent under before it is
// stored; the first mismatch stops the upload with 422 naming the chunk. Chunks verified before
// the mismatch are kept (their content is correct by construction).
//
// A frame may instead carry a sub-chunk delta (delta.ts, encoding byte 0x02): the chunk is rebuilt
// from base chunks this store holds, and the rebuilt bytes must hash to the frame's name (else 422,
// as for a whole chunk). A delta naming a base this store lacks is skipped, not refused: its hash
// is listed in `needWhole` so the sender sends that chunk whole.
import type { ChunkStore, Pin } from '../store/chunk-store.js';
import { decodeChunk } from '../store/chunk-codec.js';
import { applyDelta, deltaBases, ENC_DELTA } from '../protocol/delta.js';
import { AgentError, badRequest, hashMismatch, tooLarge } from '../errors.js';
import { HASH_BYTES, hashHex } from '../store/hash.js';
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
    let present = store.has(hex);
    if (present && opts.verify) present = await store.verify(hex);
    if (present) {
      out[i] = 1;
      opts.pin?.add(hex);
    }
  }
  return out;
}

const DRAIN_LIMIT = 64 * 1024 * 1024;

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
  },
): Promise<ReceiveResult> {
  const q = new ByteQueue();
  const res: ReceiveResult = { received: 0, stored: 0, duplicates: 0, bytes: 0, deltas: 0, needWhole: [] };
  const maxRaw = opts.limits.maxChunkSize;
  const scratch = Buffer.allocUnsafeSlow(maxRaw + 1);
  let header: { hash: Buffer; rawLen: number; storedLen: number } | null = null;
  let total = 0;
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
      // Into `scratch` when the frame spans parts (a 64 KiB chunk spans the ~16 KiB TLS records
      // it arrived in): nothing below keeps `stored` once the frame is handled (the pack write is
      // synchronous), so one buffer serves the whole upload instead of one allocation per chunk.
      const stored = q.take(header.storedLen, scratch);
      const { hash, rawLen } = header;
      header = null;
      const expected = hash.toString('hex');
      if (stored[0] === ENC_DELTA) {
        const names = deltaBases(stored, expected);
        if (!names.every((b) => store.has(b))) {
          res.needWhole.push(expected);
          res.bytes += stored.length;
          continue;
        }
        for (const b of names) opts.pin?.add(b);
        const bases: Buffer[] = [];
        for (const b of names) bases.push(await store.readRaw(b));
        let raw: Buffer;
        try {
          raw = applyDelta(stored, bases, rawLen, expected);
        } catch (err) {
          // A drifted (corrupt) base rebuilds the wrong bytes through no fault of the sender:
          // re-verify the bases; if one is bad (now dropped) ask for the chunk whole instead.
          if (!(err instanceof AgentError && err.code === 'hash_mismatch')) throw err;
          let drifted = false;
          for (const b of names) if (!(await store.verify(b))) drifted = true;
          if (!drifted) throw err;
          res.needWhole.push(expected);
          res.bytes += stored.length;
          continue;
        }
        const { written } = await store.put(expected, raw, {
          compress: opts.compress ?? true,
          ...(opts.pin ? { pin: opts.pin } : {}),
        });
        res.received++;
        res.deltas++;
        res.bytes += stored.length;
        if (written) res.stored++;
        else res.duplicates++;
        opts.onChunk?.(stored.length, written);
        continue;
      }
      const verifying = store.stages.begin('verify');
      let actual: string;
      try {
        const raw = await decodeChunk(stored, Math.min(rawLen, maxRaw));
        if (raw.length !== rawLen)
          throw hashMismatch(`chunk ${expected}: decoded to ${raw.length} bytes, declared ${rawLen}`);
        actual = hashHex(raw);
      } finally {
        verifying(rawLen);
      }
      if (actual !== expected)
        throw hashMismatch(`chunk ${expected}: content hashes to ${actual}; chunk refused`);
      const wasNew = await store.putStored(expected, stored, opts.pin);
      res.received++;
      res.bytes += stored.length;
      if (wasNew) res.stored++;
      else res.duplicates++;
      opts.onChunk?.(stored.length, wasNew);
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
  if (failure) throw failure;
  if (header || q.length > 0) throw badRequest('chunk upload ends inside a frame (truncated body)');
  return res;
}
