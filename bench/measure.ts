import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, statSync, lstatSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/**
 * How the benchmark measures processes, the same way for every tool:
 *  - wall seconds: the benchmark's own monotonic clock (process.hrtime) around the operation;
 *  - CPU seconds: user + system time as the kernel accounts it. One-shot commands (rsync client,
 *    rsync daemon, restic) run under GNU time, which reports wait4()'s rusage, so the CPU of every
 *    child they waited for is included. Long-running processes (Ferry's agents) are read from
 *    /proc/<pid>/stat (utime + stime + cutime + cstime) before and after, and the delta is taken;
 *  - peak RSS: the kernel's resident-set high-water mark: ru_maxrss (GNU time %M) for one-shot
 *    commands, VmHWM from /proc/<pid>/status for long-running ones, reset right before the measured
 *    operation (resetPeakRss), so the mark belongs to that operation alone.
 */
export interface Usage {
  wallSeconds: number;
  cpuSeconds: number;
  peakRssBytes: number;
}

export interface TimedResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  wallSeconds: number;
  cpuSeconds: number;
  peakRssBytes: number;
}

/** The format string handed to GNU time: user seconds, system seconds, max RSS in KiB. */
export const TIME_FORMAT = 'ferry-bench-time %U %S %M';

/**
 * Parses what GNU time wrote with TIME_FORMAT. The file may start with "Command exited with
 * non-zero status" or "Command terminated by signal" lines; the marker line is searched for.
 */
export function parseTimeOutput(text: string): { cpuSeconds: number; peakRssBytes: number } {
  const line = text.split('\n').find((l) => l.startsWith('ferry-bench-time '));
  if (!line) throw new Error(`GNU time wrote no measurement line: ${JSON.stringify(text.slice(0, 300))}`);
  const [, user, sys, maxKiB] = line.trim().split(/\s+/);
  const u = Number(user);
  const s = Number(sys);
  const m = Number(maxKiB);
  if (![u, s, m].every(Number.isFinite)) throw new Error(`unparsable GNU time line: ${line}`);
  return { cpuSeconds: round3(u + s), peakRssBytes: m * 1024 };
}

export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export function nowSeconds(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Where GNU time writes its line. */
  timeFile: string;
  /** Called with the child's pid as soon as it exists (to kill it on Ctrl-C). */
  onSpawn?: (pid: number) => void;
  /** Called with the same pid once it has exited. */
  onExit?: (pid: number) => void;
}

/** Runs a command to completion under GNU time; stdout and stderr are collected in memory. */
export function runTimed(command: string, args: string[], opts: RunOptions): Promise<TimedResult> {
  return new Promise((resolve, reject) => {
    rmSync(opts.timeFile, { force: true });
    const start = nowSeconds();
    const child = spawn('/usr/bin/time', ['-f', TIME_FORMAT, '-o', opts.timeFile, command, ...args], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so the benchmark's clean-up (and the reaper) can end it and its children.
      detached: true,
    });
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.once('error', reject);
    child.once('exit', () => {
      if (child.pid !== undefined) opts.onExit?.(child.pid);
    });
    child.once('close', (code, signal) => {
      const wallSeconds = round3(nowSeconds() - start);
      try {
        const usage = parseTimeOutput(readFileSync(opts.timeFile, 'utf8'));
        resolve({
          code,
          signal,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          wallSeconds,
          ...usage,
        });
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// /proc readers for long-running processes

let clkTck: number | undefined;
function clockTicks(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

export interface ProcStat {
  /** utime + stime + cutime + cstime, in clock ticks. */
  cpuTicks: number;
}

/**
 * Parses /proc/<pid>/stat. The command name (field 2) is in parentheses and may itself contain
 * spaces or parentheses, so fields are counted from the last ')'.
 */
export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error(`not a /proc/<pid>/stat line: ${text.slice(0, 80)}`);
  const rest = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state); field n is rest[n - 3]. utime 14, stime 15, cutime 16, cstime 17.
  const f = (n: number): number => Number(rest[n - 3]);
  return { cpuTicks: f(14) + f(15) + f(16) + f(17) };
}

/** Parses one "Key:   1234 kB" line of /proc/<pid>/status into bytes (undefined when absent). */
export function parseStatusKiB(text: string, key: string): number | undefined {
  const m = new RegExp(`^${key}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
  return m ? Number(m[1]) * 1024 : undefined;
}

/** Parses /proc/<pid>/io. */
export function parseProcIo(text: string): { rchar: number; readBytes: number } {
  const get = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { rchar: get('rchar'), readBytes: get('read_bytes') };
}

/** pid and every live descendant (children of every thread, recursively). */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number): void => {
    out.push(p);
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const t of tasks) {
      let kids = '';
      try {
        kids = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const k of kids.trim().split(/\s+/).filter(Boolean)) visit(Number(k));
    }
  };
  visit(pid);
  return out;
}

export interface TreeSample {
  cpuSeconds: number;
  /** Max VmHWM over the tree's processes. */
  peakRssBytes: number;
  /** Sum of rchar (bytes asked of read syscalls, page cache and sockets included). */
  rchar: number;
  /** Sum of read_bytes (bytes actually fetched from storage). */
  readBytes: number;
}

/** CPU, peak RSS and read counters of a process and its descendants, from /proc. */
export function sampleTree(pid: number): TreeSample {
  let ticks = 0;
  let peak = 0;
  let rchar = 0;
  let readBytes = 0;
  for (const p of processTree(pid)) {
    try {
      ticks += parseProcStat(readFileSync(`/proc/${p}/stat`, 'utf8')).cpuTicks;
      peak = Math.max(peak, parseStatusKiB(readFileSync(`/proc/${p}/status`, 'utf8'), 'VmHWM') ?? 0);
      const io = parseProcIo(readFileSync(`/proc/${p}/io`, 'utf8'));
      rchar += io.rchar;
      readBytes += io.readBytes;
    } catch {
      // the process exited between listing and reading
    }
  }
  return { cpuSeconds: ticks / clockTicks(), peakRssBytes: peak, rchar, readBytes };
}

/**
 * Resets the resident-set high-water mark (VmHWM) of a process and its descendants to their
 * current resident set (`5` written to /proc/<pid>/clear_refs, Linux 4.0+), so a long-running
 * process's next sampleTree peak is that of what it did since. Returns how many processes it reset.
 */
export function resetPeakRss(pid: number): number {
  let n = 0;
  for (const p of processTree(pid)) {
    try {
      writeFileSync(`/proc/${p}/clear_refs`, '5');
      n++;
    } catch {
      // the process exited between listing and writing
    }
  }
  return n;
}

/**
 * Waits until the processes `pids` (with their children) have used no CPU for `quietMs`, judged
 * from their CPU ticks every `pollMs`, or `maxMs` has passed; returns the milliseconds waited.
 * Why: an agent gives back what a replication pruned right after answering it; a run measured
 * right after the warm-up replication would pay for the warm-up's clean-up.
 */
export async function waitForQuiet(
  pids: readonly number[],
  opts: { quietMs?: number; maxMs?: number; pollMs?: number; cpuSeconds?: (pid: number) => number } = {},
): Promise<number> {
  const { quietMs = 150, maxMs = 3000, pollMs = 25 } = opts;
  const cpu = opts.cpuSeconds ?? ((pid: number) => sampleTree(pid).cpuSeconds);
  const total = (): number => pids.reduce((n, p) => n + cpu(p), 0);
  const start = Date.now();
  let last = total();
  let changedAt = start;
  while (Date.now() - changedAt < quietMs && Date.now() - start < maxMs) {
    await new Promise((r) => setTimeout(r, pollMs));
    const now = total();
    if (now !== last) {
      last = now;
      changedAt = Date.now();
    }
  }
  return Date.now() - start;
}

// ---------------------------------------------------------------------------------------------
// Bytes on the wire

export interface CountingProxy {
  readonly port: number;
  /** Bytes client → server and server → client since the last reset. */
  counts(): { up: number; down: number; connections: number };
  reset(): void;
  close(): Promise<void>;
}

/**
 * A TCP relay on loopback that counts every payload byte in each direction. Both rsync (client →
 * daemon) and Ferry (source agent → destination agent) are pointed at it, so "bytes sent over the
 * wire" is measured the same way, outside every tool: TCP payload, TLS records and protocol
 * framing included, TCP/IP headers not.
 */
export async function startCountingProxy(
  targetPort: number,
  targetHost = '127.0.0.1',
): Promise<CountingProxy> {
  let up = 0;
  let down = 0;
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    connections++;
    const upstream = net.connect({ port: targetPort, host: targetHost, allowHalfOpen: true });
    sockets.add(client);
    sockets.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('data', (d: Buffer) => {
      up += d.length;
    });
    upstream.on('data', (d: Buffer) => {
      down += d.length;
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const done = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', done);
    upstream.on('error', done);
    client.on('close', () => {
      sockets.delete(client);
      if (upstream.writableEnded || upstream.destroyed) return;
      upstream.end();
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      if (client.writableEnded || client.destroyed) return;
      client.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    counts: () => ({ up, down, connections }),
    reset() {
      up = 0;
      down = 0;
      connections = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Calls `fn` with the path and stats of every regular file under `dir` (symlinks not followed). */
export function forEachFile(dir: string, fn: (file: string, size: number) => void): void {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = lstatSync(p);
    if (st.isDirectory()) forEachFile(p, fn);
    else if (st.isFile()) fn(p, st.size);
  }
}

/** Total size in bytes of the regular files under `dir` (apparent sizes, like `du -sb`). */
export function treeBytes(dir: string): number {
  let total = 0;
  try {
    if (statSync(dir).isDirectory()) forEachFile(dir, (_file, size) => (total += size));
  } catch {
    return 0;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// Which files a process reads: strace

export interface FileReads {
  /** Bytes returned by read syscalls on files under the prefix. */
  bytes: number;
  /** Distinct files under the prefix that were read from. */
  files: number;
  /** A few of them, for the report. */
  examples: string[];
}

const READ_CALLS = 'read|pread64|readv|preadv|preadv2';
const CALL = new RegExp(`^(?:\\[pid\\s+)?(\\d+)\\]?\\s+(?:${READ_CALLS})\\((\\d+)<([^>]*)>,(.*)$`);
const RESUMED = new RegExp(`^(?:\\[pid\\s+)?(\\d+)\\]?\\s+<\\.\\.\\. (?:${READ_CALLS}) resumed>(.*)$`);
const RESULT = /\)\s+=\s+(-?\d+)/;

/**
 * Adds up what `strace -f -y -e trace=read,pread64,readv,preadv,preadv2` logged for file
 * descriptors whose path starts with `prefix`. Handles lines split by `<unfinished ...>` /
 * `<... resumed>` when threads interleave.
 */
export function parseStraceReads(text: string, prefix: string): FileReads {
  const pending = new Map<string, string>();
  const files = new Set<string>();
  let bytes = 0;
  const count = (file: string, tail: string): void => {
    const m = RESULT.exec(tail);
    const n = m ? Number(m[1]) : 0;
    if (n > 0) {
      bytes += n;
      files.add(file);
    }
  };
  for (const line of text.split('\n')) {
    const call = CALL.exec(line);
    if (call) {
      const [, tid, , file, tail] = call;
      if (!file!.startsWith(prefix)) continue;
      if (tail!.includes('<unfinished ...>')) pending.set(tid!, file!);
      else count(file!, tail!);
      continue;
    }
    const resumed = RESUMED.exec(line);
    if (resumed) {
      const file = pending.get(resumed[1]!);
      if (file === undefined) continue;
      pending.delete(resumed[1]!);
      count(file, resumed[2]!);
    }
  }
  return { bytes, files: files.size, examples: [...files].slice(0, 5) };
}

/**
 * Attaches strace to every thread of `pid` (and anything it forks), runs `work`, detaches, and
 * reports the bytes read from files under `prefix`. Tracing slows the process down a lot: only
 * for checks, never while timing.
 */
export async function traceFileReads(
  pid: number,
  prefix: string,
  outFile: string,
  work: () => Promise<void>,
): Promise<FileReads> {
  rmSync(outFile, { force: true });
  const strace = spawn(
    'strace',
    [
      '-f',
      '-y',
      '-s',
      '0',
      '-e',
      `trace=${READ_CALLS.replace(/\|/g, ',')}`,
      '-o',
      outFile,
      '-p',
      String(pid),
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  const exited = new Promise<void>((resolve) => strace.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`strace did not attach to ${pid}: ${stderr.trim()}`)),
      10_000,
    );
    strace.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes(`Process ${pid} attached`)) {
        clearTimeout(timer);
        resolve();
      }
    });
    strace.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`strace exited (${code}) before attaching: ${stderr.trim()}`));
    });
  });
  await new Promise((r) => setTimeout(r, 300));
  try {
    await work();
  } finally {
    strace.kill('SIGINT');
    await exited;
  }
  return parseStraceReads(readFileSync(outFile, 'utf8'), prefix);
}

/** Runs `fn` over `items` with at most `size` calls in flight (client calls: starts, queries, applies). */
export async function inPool<T>(
  items: readonly T[],
  fn: (item: T, i: number) => Promise<void>,
  size = 16,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(size, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

/** Runs a bench's main: an error prints `[bench] <stack>` and exits 1. */
export function runBench(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    process.stderr.write(`[bench] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}

/** A process's resident set now (VmRSS), 0 once it is gone. */
export function rssBytes(pid: number): number {
  try {
    return parseStatusKiB(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS') ?? 0;
  } catch {
    return 0;
  }
}
