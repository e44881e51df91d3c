// Chunk identity: a 32-byte hash of the raw (uncompressed) chunk bytes, by one of two algorithms
// a manifest names in its `hash` field:
//
//   sha256  node:crypto, using the CPU's SHA extensions where present (1.2 GB/s per core on the
//           2-core reference VM). Every volume replicated before BLAKE3 came keeps it.
//   blake3  @napi-rs/blake-hash (native, prebuilt per platform on npm; SIMD up to AVX-512): 4.6-5.2
//           GB/s per core on the same VM for 64 KiB-1 MiB chunks, 4.3x SHA-256. Hashing was 1.3 of
//           the 6.1 CPU-seconds of a 512 MiB full replication (source, its hash worker and the
//           destination's check), so new volumes use it.
//
// A volume keeps the algorithm of its first snapshot for its whole chain (an incremental snapshot
// reuses its parent's chunk lists, and renaming every chunk would resend the volume), so a
// volume replicated before BLAKE3 stays on SHA-256 and stays readable. A store is keyed by hex
// name alone and may hold chunks of both: a name is checked against whichever algorithm produced
// it (`nameMatches` tries the expected one first), which is as safe as either hash, since
// forging a chunk would need a preimage of one of them. Without the native module (an
// unsupported platform), this agent neither makes nor checks BLAKE3 chunks and says so.
import crypto from 'node:crypto';
import { createRequire } from 'node:module';

export type HashAlgorithm = 'sha256' | 'blake3';
/** Every algorithm a manifest may name. */
export const HASH_ALGORITHMS: readonly HashAlgorithm[] = ['sha256', 'blake3'];
export const HASH_BYTES = 32;
const HEX = /^[0-9a-f]{64}$/;

type NativeBlake3 = (input: Uint8Array) => Buffer;

const require = createRequire(import.meta.url);
let blake3Native: NativeBlake3 | null = null;
let blake3Missing = '';
/** Path of the native BLAKE3 module, for the hash worker (null when it did not load). */
export let BLAKE3_MODULE: string | null = null;
try {
  const path = require.resolve('@napi-rs/blake-hash');
  blake3Native = (require(path) as { blake3: NativeBlake3 }).blake3;
  BLAKE3_MODULE = path;
} catch (err) {
  blake3Missing = err instanceof Error ? err.message.split('\n')[0]! : String(err);
}

/** The algorithms this agent can compute, the ones it advertises in /v1/info. */
export const HASHES_AVAILABLE: readonly HashAlgorithm[] = blake3Native ? ['blake3', 'sha256'] : ['sha256'];
/** The algorithm a new volume's first snapshot uses: the fastest available. */
export const DEFAULT_HASH: HashAlgorithm = HASHES_AVAILABLE[0]!;

export function isHashAlgorithm(value: unknown): value is HashAlgorithm {
  return value === 'sha256' || value === 'blake3';
}

/** Whether `value` names an algorithm this agent can compute. */
export function isHashAvailable(value: unknown): value is HashAlgorithm {
  return isHashAlgorithm(value) && HASHES_AVAILABLE.includes(value);
}

function blake3(): NativeBlake3 {
  if (!blake3Native)
    throw new Error(`hash "blake3" is not available on this agent (@napi-rs/blake-hash: ${blake3Missing})`);
  return blake3Native;
}

export function hashBytes(data: Uint8Array, alg: HashAlgorithm = 'sha256'): Buffer {
  return alg === 'blake3' ? blake3()(data) : crypto.hash('sha256', data, 'buffer');
}

export function hashHex(data: Uint8Array, alg: HashAlgorithm = 'sha256'): string {
  return alg === 'blake3' ? blake3()(data).toString('hex') : crypto.hash('sha256', data, 'hex');
}

/**
 * Whether `hex` names `data` under any available algorithm, trying `expected` first (then the
 * others, cheapest first). Returns the algorithm that matched, or null.
 */
export function nameMatches(
  data: Uint8Array,
  hex: string,
  expected: HashAlgorithm = DEFAULT_HASH,
): HashAlgorithm | null {
  if (isHashAvailable(expected) && hashHex(data, expected) === hex) return expected;
  for (const alg of HASHES_AVAILABLE) if (alg !== expected && hashHex(data, alg) === hex) return alg;
  return null;
}

export function isHashHex(value: unknown): value is string {
  return typeof value === 'string' && HEX.test(value);
}
