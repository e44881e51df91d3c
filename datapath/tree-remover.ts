// Deleting whole trees (retired and pruned restore points, half-built staging trees, leftovers in
// tmp/) on a helper thread, so the agent's event loop keeps serving while thousands of files go.
//
// Why: a standby commit that pushes a restore point out of `retain` leaves its tree to be deleted
// "in the background", but fs.promises.rm is JavaScript driven from the main thread (an lstat, an
// unlink and two callbacks per file). Profiled on the 2 GiB benchmark volume (10,000 small files):
// deleting one retired tree took ~375 ms of the destination's main thread right after a commit,
// and the next replication's first request (from the same or another volume) waited behind it.
// Here one thread does it with synchronous calls and one readdir per folder: a folder is made
// writable (restore points may hold read-only folders) and listed, sub-folders are removed first,
// other entries (files, symlinks: never followed) are unlinked, then the folder itself.
//
// One removal at a time, in the order asked. The thread is created on first use, shared by the
// process and unref'd: a background removal never keeps the agent alive, an awaited one does while
// it runs. If the thread dies, pending removals fall back to the same work on the main thread.
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

/**
 * rm -rf of `dir` with synchronous calls of `fs`, also through folders without write or execute
 * permission; a missing `dir` (or entry) is not an error. Plain JavaScript, the body of
 * `removeSync(fs, dir)`: the helper thread runs it, and so does the main thread should the thread
 * be gone (one definition, and no transpiler output shipped to the worker).
 */
const REMOVE_SYNC = `
  const gone = (err) => err && err.code === 'ENOENT';
  const rmdir = (d) => {
    try { fs.chmodSync(d, 0o700); } catch (err) { if (gone(err)) return; }
    let list;
    try { list = fs.readdirSync(d, { withFileTypes: true }); } catch (err) { if (gone(err)) return; throw err; }
    for (const e of list) {
      const p = d + '/' + e.name;
      if (e.isDirectory()) rmdir(p);
      else try { fs.unlinkSync(p); } catch (err) { if (!gone(err)) throw err; }
    }
    try { fs.rmdirSync(d); } catch (err) { if (!gone(err)) throw err; }
  };
  let st;
  try { st = fs.lstatSync(dir); } catch (err) { if (gone(err)) return; throw err; }
  if (st.isDirectory()) rmdir(dir);
  else fs.unlinkSync(dir);
`;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const removeSync = new Function('fs', 'dir', ${JSON.stringify(REMOVE_SYNC)});
const fs = require('node:fs');
parentPort.on('message', (m) => {
  try {
    removeSync(fs, m.dir);
    parentPort.postMessage({ id: m.id });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String((err && err.message) || err) });
  }
});
`;

const removeSync = new Function('fs', 'dir', REMOVE_SYNC) as (fsm: typeof fs, dir: string) => void;

interface Pending {
  resolve: () => void;
  reject: (e: Error) => void;
  dir: string;
  awaited: boolean;
}

let worker: Worker | null = null;
let nextId = 0;
const pending = new Map<number, Pending>();

function settleOnMainThread(p: Pending): void {
  try {
    removeSync(fs, p.dir);
    p.resolve();
  } catch (err) {
    p.reject(err as Error);
  }
}

/** Keeps the process alive only while an awaited removal is pending. */
function holdIfAwaited(w: Worker): void {
  if ([...pending.values()].some((p) => p.awaited)) w.ref();
  else w.unref();
}

function getWorker(): Worker | null {
  if (worker) return worker;
  let w: Worker;
  try {
    w = new Worker(WORKER_SOURCE, { eval: true, name: 'ferry-tree-remover' });
  } catch {
    return null;
  }
  w.unref();
  w.on('message', (m: { id: number; error?: string }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error === undefined) p.resolve();
    else p.reject(new Error(`removing ${p.dir}: ${m.error}`));
    holdIfAwaited(w);
  });
  const gone = (): void => {
    if (worker !== w) return;
    worker = null;
    const left = [...pending.values()];
    pending.clear();
    for (const p of left) settleOnMainThread(p);
  };
  w.on('error', gone);
  w.on('exit', gone);
  worker = w;
  return w;
}

/**
 * Removes `dir` and everything under it (rm -rf that also works through read-only folders) on the
 * helper thread. `background`: the caller does not wait, so the process may exit before it ends
 * (trees removed in the background sit in tmp/, which the agent empties on start).
 */
export function removeTree(dir: string, opts: { background?: boolean } = {}): Promise<void> {
  const abs = path.resolve(dir);
  return new Promise<void>((resolve, reject) => {
    const p: Pending = { resolve, reject, dir: abs, awaited: !opts.background };
    const w = getWorker();
    if (!w) {
      settleOnMainThread(p);
      return;
    }
    const id = nextId++;
    pending.set(id, p);
    holdIfAwaited(w);
    w.postMessage({ id, dir: abs });
  });
}
