// Bulk filesystem work of the destination on helper threads, so the agent's event loop keeps
// serving (and the second core works) while thousands of files are linked or deleted.
//
//  * removeTree: rm -rf of retired and pruned restore points, half-built staging trees and
//    leftovers in tmp/. fs.promises.rm is JavaScript driven from the main thread (an lstat, an
//    unlink and two callbacks per file): profiled on the 2 GiB benchmark volume (10,000 small
//    files), deleting one retired tree took ~375 ms of the destination's main thread right after
//    a commit, and the next replication's first request waited behind it. Here a folder is made
//    writable (restore points may hold read-only folders) and listed once, sub-folders are removed
//    first, other entries (files, symlinks: never followed) unlinked, then the folder itself.
//  * linkFiles: the hard links a commit makes for the files unchanged since the current restore
//    point (tree.ts). Measured on the same volume, the links and folders of a commit that touched
//    1,000 files took ~170 ms of the main thread before the 1,000 files were written (~90 ms);
//    on the linker thread they run while the main thread writes.
//
// Each kind has its own thread (a commit's links never wait behind a background removal), created
// on first use, shared by the process and unref'd: background work never keeps the agent alive,
// awaited work does while it runs. A thread runs its jobs one at a time, in the order asked. If it
// dies or cannot start, its pending and later jobs run on the main thread, with the same code.
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

/**
 * The jobs, as plain JavaScript function bodies of `(fs, job)`: the helper threads run them, and so
 * does the main thread when a thread is gone (one definition, and no transpiler output shipped to
 * a thread).
 *
 * remove {dir}: rm -rf, also through folders without write or execute permission; a missing `dir`
 * (or entry) is not an error. link {from, to, rels}: hard-links `from/rel` as `to/rel` for each
 * rel; returns the indices of the links that failed (the caller writes those files instead).
 */
const JOBS = {
  remove: `
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
    try { st = fs.lstatSync(job.dir); } catch (err) { if (gone(err)) return; throw err; }
    if (st.isDirectory()) rmdir(job.dir);
    else fs.unlinkSync(job.dir);
  `,
  link: `
    const failed = [];
    const from = job.from + '/';
    const to = job.to + '/';
    const rels = job.rels;
    for (let i = 0; i < rels.length; i++) {
      try { fs.linkSync(from + rels[i], to + rels[i]); } catch { failed.push(i); }
    }
    return failed;
  `,
} as const;

type JobKind = keyof typeof JOBS;
interface JobArgs {
  remove: { dir: string };
  link: { from: string; to: string; rels: readonly string[] };
}
interface JobResult {
  remove: void;
  link: number[];
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const jobs = {};
for (const [kind, body] of Object.entries(${JSON.stringify(JOBS)})) jobs[kind] = new Function('fs', 'job', body);
parentPort.on('message', (m) => {
  try {
    parentPort.postMessage({ id: m.id, result: jobs[m.kind](fs, m.job) });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String((err && err.message) || err) });
  }
});
`;

const onMainThread = Object.fromEntries(
  Object.entries(JOBS).map(([kind, body]) => [kind, new Function('fs', 'job', body)]),
) as Record<JobKind, (fsm: typeof fs, job: unknown) => unknown>;

interface Pending {
  kind: JobKind;
  job: unknown;
  awaited: boolean;
  what: string;
  resolve: (r: unknown) => void;
  reject: (e: Error) => void;
}

function runOnMainThread(p: Pending): void {
  try {
    p.resolve(onMainThread[p.kind](fs, p.job));
  } catch (err) {
    p.reject(err as Error);
  }
}

/** One helper thread and its queue. */
class FsThread {
  private worker: Worker | null = null;
  private failedToStart = false;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly name: string) {}

  run<K extends JobKind>(kind: K, job: JobArgs[K], what: string, background = false): Promise<JobResult[K]> {
    return new Promise<JobResult[K]>((resolve, reject) => {
      const p: Pending = {
        kind,
        job,
        awaited: !background,
        what,
        resolve: resolve as (r: unknown) => void,
        reject,
      };
      const w = this.thread();
      if (!w) {
        runOnMainThread(p);
        return;
      }
      const id = this.nextId++;
      this.pending.set(id, p);
      this.hold(w);
      w.postMessage({ id, kind, job });
    });
  }

  /** Keeps the process alive only while an awaited job is pending. */
  private hold(w: Worker): void {
    if ([...this.pending.values()].some((p) => p.awaited)) w.ref();
    else w.unref();
  }

  private thread(): Worker | null {
    if (this.worker || this.failedToStart) return this.worker;
    let w: Worker;
    try {
      w = new Worker(WORKER_SOURCE, { eval: true, name: this.name });
    } catch {
      this.failedToStart = true;
      return null;
    }
    w.unref();
    w.on('message', (m: { id: number; result?: unknown; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error === undefined) p.resolve(m.result);
      else p.reject(new Error(`${p.what}: ${m.error}`));
      this.hold(w);
    });
    const gone = (): void => {
      if (this.worker !== w) return;
      this.worker = null;
      const left = [...this.pending.values()];
      this.pending.clear();
      for (const p of left) runOnMainThread(p);
    };
    w.on('error', gone);
    w.on('exit', gone);
    this.worker = w;
    return w;
  }
}

const remover = new FsThread('ferry-tree-remover');
const linker = new FsThread('ferry-tree-linker');

/**
 * Removes `dir` and everything under it (rm -rf that also works through read-only folders) on the
 * remover thread. `background`: the caller does not wait, so the process may exit before it ends
 * (trees removed in the background sit in tmp/, which the agent empties on start).
 */
export function removeTree(dir: string, opts: { background?: boolean } = {}): Promise<void> {
  const abs = path.resolve(dir);
  return remover.run('remove', { dir: abs }, `removing ${abs}`, opts.background);
}

/**
 * Hard-links `from/rel` as `to/rel` for each of `rels` (their folders must exist) on the linker
 * thread. Resolves to the indices (into `rels`) of the links that failed.
 */
export function linkFiles(from: string, to: string, rels: readonly string[]): Promise<number[]> {
  if (rels.length === 0) return Promise.resolve([]);
  return linker.run('link', { from: path.resolve(from), to: path.resolve(to), rels }, `linking into ${to}`);
}
