// The bulk chunk protocol on the data port.
//
// POST /v1/chunks/have   body: N × 32-byte chunk names (binary; SHA-256 or BLAKE3, store/hash.ts)
//                        response: N bytes, 1 = present (and, with ?verify=1, re-verified), 0 = missing
// POST /v1/chunks        body: a stream of frames, each
//                          hash      32 bytes  name of the raw chunk (its hash)
//                          rawLen     4 bytes  big-endian, raw chunk length (1..maxChunkSize)
//                          storedLen  4 bytes  big-endian, length of `stored`
//                          stored     storedLen bytes: encoding byte + payload (chunk-codec.ts),
//                                     or encoding 0x02: a sub-chunk delta against chunks the
//                                     receiver holds (delta.ts); rebuilt and verified on receipt
//                        response: JSON {received, stored, duplicates, bytes, deltas, needWhole}
//                          needWhole: hashes sent as deltas whose bases the receiver lacks
//                          (nothing stored for them): send those chunks whole
// Both accept `X-Ferry-Session: <id>`: chunks named in a session are pinned (safe from garbage
// collection) until the session's commit or until it has been idle for the session timeout.
// An upload may say `X-Ferry-Hash: sha256|blake3`, the algorithm of its volume's manifests: the
// receiver checks each chunk's name with it first (without it, with each algorithm it has, BLAKE3
// first), and refuses the upload at once if it cannot compute that algorithm.
//
// The data port speaks TLS unless its agent runs with --data-plaintext (AgentInfo.dataScheme
// "http"), for links encrypted below it (a WireGuard or IPsec mesh). Then chunk bytes cross in
// clear but nothing is trusted for it: every chunk is checked against its name on arrival, and a
// restore point is only what a manifest sent over the control port's TLS names. The control token
// never crosses in clear: plain HTTP there takes only dataPortToken(token), which nothing on the
// control port accepts, so one sniffed from the wire can ask which chunks exist and upload chunks
// (pinned for the session timeout, then collected), and nothing else. The same port still serves
// a connection that opens with a TLS handshake over TLS, with the agent's token, so sources older
// than the flag keep working.
import crypto from 'node:crypto';
import { HASH_BYTES } from '../store/hash.js';

export const FRAME_HEADER = HASH_BYTES + 8;
export const SESSION_HEADER = 'x-ferry-session';
export const HASH_HEADER = 'x-ferry-hash';

/** The bearer token a plaintext data port accepts in place of the agent's token (derived, one-way). */
export function dataPortToken(token: string): string {
  return `fdp1.${crypto.createHmac('sha256', token).update('ferry data port v1').digest('base64url')}`;
}

export function frameHeader(hash: Buffer, rawLen: number, storedLen: number): Buffer {
  const h = Buffer.alloc(FRAME_HEADER);
  writeFrameHeader(h, 0, hash.toString('hex'), rawLen, storedLen);
  return h;
}

/** Writes a frame header for the chunk named `hex` (its hash, hex) into `buf` at `at`. */
export function writeFrameHeader(
  buf: Buffer,
  at: number,
  hex: string,
  rawLen: number,
  storedLen: number,
): void {
  buf.write(hex, at, HASH_BYTES, 'hex');
  buf.writeUInt32BE(rawLen, at + HASH_BYTES);
  buf.writeUInt32BE(storedLen, at + HASH_BYTES + 4);
}

/** A FIFO of byte buffers that hands out exact-length slices without quadratic copying. */
export class ByteQueue {
  private parts: Buffer[] = [];
  private head = 0;
  length = 0;

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.parts.push(b);
    this.length += b.length;
  }

  /**
   * Removes and returns the first `n` bytes (caller ensures `n <= length`): a view of the first
   * part when they lie in it, else a copy, into `scratch` when given and large enough (the caller
   * must be done with it before its next take into the same scratch).
   */
  take(n: number, scratch?: Buffer): Buffer {
    const first = this.parts[this.head] as Buffer;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.head++;
      else this.parts[this.head] = first.subarray(n);
      this.length -= n;
      this.compact();
      return out;
    }
    const out = scratch && scratch.length >= n ? scratch.subarray(0, n) : Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const p = this.parts[this.head] as Buffer;
      const k = Math.min(p.length, n - off);
      p.copy(out, off, 0, k);
      off += k;
      if (k === p.length) this.head++;
      else this.parts[this.head] = p.subarray(k);
    }
    this.length -= n;
    this.compact();
    return out;
  }

  private compact(): void {
    if (this.head > 64) {
      this.parts = this.parts.slice(this.head);
      this.head = 0;
    }
  }
}
