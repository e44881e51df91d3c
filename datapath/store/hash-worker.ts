// A hashing helper thread for the snapshot's read path (source/ingest.ts), so hashing a large file's
// chunks runs on the second core while the main thread cuts the next block and writes the last.
//
// One message per 8 MiB block, not per chunk: the block lives in a SharedArrayBuffer the worker
// reads in place (no copy), the request carries the chunks' [start, end) offsets and the answer
// their hex digests in order. Per-chunk dispatch to the thread pool (crypto.subtle.digest) was
// measured at ~36 µs of main-thread time per 64 KiB chunk, as much as hashing it inline, so it is
// not used. The worker is created on first use, shared by all snapshots of the process and unref'd
// (it never keeps the agent alive); if it dies, pending requests fail and the next one starts a new
// worker. The worker's source is inline (eval) so it runs the same from dist/ and under ts-jest.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { BLAKE3_MODULE, type HashAlgorithm, hashHex, isHashAvailable } from './hash.js';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const crypto = require('node:crypto');
const blake3 = workerData.blake3 ? require(workerData.blake3).blake3 : null;
const hex = {
  sha256: (b) => crypto.hash('sha256', b, 'hex'),
  blake3: (b) => blake3(b).toString('hex'),
};
parentPort.on('message', (m) => {
  try {
    const buf = Buffer.from(m.sab);
    const cuts = m.cuts;
    const hash = hex[m.alg];
    const out = new Array(cuts.length >> 1);
    for (let i = 0; i < out.length; i++) out[i] = hash(buf.subarray(cuts[2 * i], cuts[2 * i + 1]));
    parentPort.postMessage({ id: m.id, hashes: out });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String(err && err.stack || err) });
  }
});
`;

interface Pending {
  resolve: (h: string[]) => void;
  reject: (e: Error) => void;
}

let worker: Worker | null = null;
let nextId = 0;
const pending = new Map<number, Pending>();

function failAll(err: Error): void {
  for (const p of pending.values()) p.reject(err);
  pending.clear();
}

function getWorker(): Worker {
  if (worker) return worker;
  const w = new Worker(WORKER_SOURCE, {
    eval: true,
    name: 'ferry-hash',
    workerData: { blake3: BLAKE3_MODULE },
  });
  w.unref();
  w.on('message', (m: { id: number; hashes?: string[]; error?: string }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.hashes) p.resolve(m.hashes);
    else p.reject(new Error(`hash worker: ${m.error ?? 'no result'}`));
    if (pending.size === 0) w.unref();
  });
  const gone = (err: Error): void => {
    if (worker === w) worker = null;
    failAll(err);
  };
  w.on('error', gone);
  w.on('exit', (code) => gone(new Error(`hash worker exited with code ${code}`)));
  worker = w;
  return w;
}

/** Whether hashing is worth moving off the main thread on this machine. */
export const HASH_WORKER_AVAILABLE = os.availableParallelism() > 1;

/**
 * The `alg` hash (hex) of `buf[cuts[2i], cuts[2i+1])` for each i. `buf` must span a whole
 * SharedArrayBuffer (offset 0) and must not be written until the promise settles. Without a
 * second CPU (or with `inline`), hashes on the calling thread.
 */
export function hashRanges(
  buf: Buffer,
  cuts: Int32Array,
  alg: HashAlgorithm,
  inline = !HASH_WORKER_AVAILABLE,
): Promise<string[]> {
  // an algorithm not available here: hashHex, inline, throws the clear error
  if (inline || !isHashAvailable(alg) || !(buf.buffer instanceof SharedArrayBuffer) || buf.byteOffset !== 0) {
    const out: string[] = [];
    for (let i = 0; i < cuts.length; i += 2) out.push(hashHex(buf.subarray(cuts[i], cuts[i + 1]), alg));
    return Promise.resolve(out);
  }
  const w = getWorker();
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    w.ref(); // keep the process alive while a snapshot waits on the worker
    w.postMessage({ id, sab: buf.buffer, cuts, alg });
  });
}
