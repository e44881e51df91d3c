import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { Keystream, MiB } from './dataset.js';
import { forEachFile, nowSeconds } from './measure.js';
import type { MachineInfo, MachineLimits } from './report.js';

function firstLine(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')[0]!
      .trim();
  } catch {
    return 'not installed';
  }
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpus: os.availableParallelism?.() ?? cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryBytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    rsync: firstLine('rsync', ['--version']),
    restic: firstLine('restic', ['version']),
    loadAverageAtStart: os.loadavg(),
  };
}

/** SHA-256 throughput of node:crypto on this thread: best of three passes over `bytes`. */
export function measureSha256(bytes = 1024 * MiB): number {
  const buf = new Keystream('sha-bench', 'buf').next(64 * MiB);
  let best = 0;
  for (let pass = 0; pass < 3; pass++) {
    const h = createHash('sha256');
    const t0 = nowSeconds();
    for (let done = 0; done < bytes; done += MiB) {
      const off = done % buf.length;
      h.update(buf.subarray(off, off + MiB));
    }
    h.digest();
    best = Math.max(best, bytes / 1e6 / (nowSeconds() - t0));
  }
  return best;
}

/** Reads `file` from start to end in `buf`-sized reads; returns the bytes read. */
function readWhole(file: string, buf: Buffer): number {
  const fd = openSync(file, 'r');
  let total = 0;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) return total;
      total += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** Sequential 1 MiB reads of `file` from start to end, MB/s. */
export function measureSequentialRead(file: string): number {
  const t0 = nowSeconds();
  const total = readWhole(file, Buffer.allocUnsafe(MiB));
  return total / 1e6 / (nowSeconds() - t0);
}

/** Empties the kernel's page cache; false when the sandbox does not allow it. */
export function dropCaches(): boolean {
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3\n');
    return true;
  } catch {
    return false;
  }
}

/** Reads every file under `dir` once, so all tools start from the same warm page cache. */
export function warmTree(dir: string): number {
  const buf = Buffer.allocUnsafe(MiB);
  let total = 0;
  forEachFile(dir, (file) => (total += readWhole(file, buf)));
  return total;
}

/**
 * The machine's limits: SHA-256 throughput, and sequential read of `bigFile` cold (after
 * dropping the page cache, when permitted) and from the page cache.
 */
export function measureLimits(bigFile: string): MachineLimits & { droppedCaches: boolean } {
  const sha256MBps = measureSha256();
  const droppedCaches = dropCaches();
  const cold = droppedCaches ? measureSequentialRead(bigFile) : null;
  measureSequentialRead(bigFile);
  const cached = Math.max(measureSequentialRead(bigFile), measureSequentialRead(bigFile));
  return { sha256MBps, seqReadCachedMBps: cached, seqReadColdMBps: cold, droppedCaches };
}
