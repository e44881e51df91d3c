// The stored (and on-the-wire) form of a chunk: one encoding byte, then the payload.
//   0x00  raw       payload = the chunk bytes
//   0x01  brotli    payload = Brotli (quality 1, window 2^18) of the chunk bytes
// Compression is tried only when a cheap entropy estimate says it may pay (worthCompressing), and
// kept only when it does: the encoded payload must be at most 90% of the raw size.
// Brotli at quality 1 was chosen over deflate because it rejects incompressible input at
// ~1.3 GB/s where deflate level 1 crawls at ~70 MB/s (measured on the reference machine), and
// it compresses text-like data as well or better. Decoding is bounded: a payload that inflates
// beyond the declared raw size is refused (no decompression bombs).
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { AgentError } from '../errors.js';

export const ENC_RAW = 0;
export const ENC_BROTLI = 1;
/** Keep the compressed form only when it is at most this fraction of the raw size. */
export const COMPRESS_KEEP_RATIO = 0.9;

/** Below this estimated entropy (bits per byte, over a sample) a chunk is worth trying to compress. */
export const ENTROPY_GATE = 7.5;

const brotliCompress = promisify(zlib.brotliCompress);
const counts = new Uint32Array(256);

/**
 * A cheap gate before compressing: the byte entropy of 4 × 1 KiB samples spread over the chunk.
 * Random or already-compressed data (≈ 8 bits/byte) is not sent through Brotli at all, which
 * matters because the compressor's per-call setup dominates on incompressible 64 KiB chunks.
 */
export function worthCompressing(raw: Uint8Array): boolean {
  if (raw.length < 512) return false;
  counts.fill(0);
  const slice = Math.min(1024, raw.length >> 2);
  const step = Math.floor((raw.length - slice) / 3);
  let n = 0;
  for (let k = 0; k < 4; k++) {
    const start = k * step;
    for (let i = start; i < start + slice; i++) {
      const b = raw[i] as number;
      counts[b] = (counts[b] as number) + 1;
    }
    n += slice;
  }
  let h = 0;
  for (let b = 0; b < 256; b++) {
    const c = counts[b] as number;
    if (c) {
      const p = c / n;
      h -= p * Math.log2(p);
    }
  }
  return h < ENTROPY_GATE;
}
const brotliDecompress = promisify(zlib.brotliDecompress);

function brotliOptions(size: number): zlib.BrotliOptions {
  return {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: 1,
      [zlib.constants.BROTLI_PARAM_LGWIN]: 18,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: size,
    },
  };
}

export function rawEncoded(raw: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(raw.length + 1);
  out[0] = ENC_RAW;
  out.set(raw, 1);
  return out;
}

/** Encodes a chunk, compressing when it pays (compression runs on the libuv thread pool). */
export async function encodeChunk(
  raw: Buffer,
  tryCompress: boolean,
): Promise<{ stored: Buffer; compressed: boolean }> {
  if (tryCompress && worthCompressing(raw)) {
    const packed = await brotliCompress(raw, brotliOptions(raw.length));
    if (packed.length <= raw.length * COMPRESS_KEEP_RATIO) {
      const out = Buffer.allocUnsafe(packed.length + 1);
      out[0] = ENC_BROTLI;
      packed.copy(out, 1);
      return { stored: out, compressed: true };
    }
  }
  return { stored: rawEncoded(raw), compressed: false };
}

/** Decodes a stored chunk, refusing unknown encodings and output beyond `maxRaw` bytes. */
export async function decodeChunk(stored: Buffer, maxRaw: number): Promise<Buffer> {
  if (stored.length < 1) throw new AgentError(400, 'bad_request', 'empty chunk payload', false);
  const enc = stored[0];
  const payload = stored.subarray(1);
  if (enc === ENC_RAW) {
    if (payload.length > maxRaw)
      throw new AgentError(
        413,
        'too_large',
        `chunk of ${payload.length} bytes exceeds the limit of ${maxRaw}`,
        false,
      );
    return payload;
  }
  if (enc === ENC_BROTLI) {
    try {
      return await brotliDecompress(payload, { maxOutputLength: maxRaw });
    } catch (err) {
      const e = err as { code?: string };
      if (e.code === 'ERR_BUFFER_TOO_LARGE') {
        throw new AgentError(
          413,
          'too_large',
          `compressed chunk inflates beyond the limit of ${maxRaw} bytes`,
          false,
        );
      }
      throw new AgentError(422, 'hash_mismatch', 'compressed chunk payload is corrupt', false);
    }
  }
  throw new AgentError(400, 'bad_request', `unknown chunk encoding ${String(enc)}`, false);
}
