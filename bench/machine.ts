import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Chunker } from '../datapath/store/chunker.js';
import { hashBytes, isHashAvailable } from '../datapath/store/hash.js';
import { createCertAuthority, issueCertificate } from '../localenv/tls.js';
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

/** `ssh -V` (it prints to stderr), for the rsync-ssh peer. */
function sshVersion(): string {
  const r = spawnSync('ssh', ['-V'], { encoding: 'utf8' });
  return r.error ? 'not installed' : (r.stderr || r.stdout).split('\n')[0]!.trim();
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
    ssh: sshVersion(),
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

/**
 * BLAKE3 throughput of the agents' native module on this thread, hashing 256 KiB pieces (Ferry's
 * largest chunk) as a snapshot does: best of three passes over `bytes`; null when it is missing.
 */
export function measureBlake3(bytes = 1024 * MiB): number | null {
  if (!isHashAvailable('blake3')) return null;
  const buf = new Keystream('blake3-bench', 'buf').next(64 * MiB);
  const piece = 256 * 1024;
  let best = 0;
  for (let pass = 0; pass < 3; pass++) {
    const t0 = nowSeconds();
    for (let done = 0; done < bytes; done += piece) {
      const off = done % buf.length;
      hashBytes(buf.subarray(off, off + piece), 'blake3');
    }
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
 * Writes back the dirty pages of the filesystem holding `dir` (`sync -f`), so that the next tool
 * measured does not pay for the write-back of what the tools before it wrote.
 */
export function flushDirty(dir: string): void {
  const r = spawnSync('sync', ['-f', dir], { stdio: 'ignore' });
  if (r.error || r.status !== 0) spawnSync('sync', { stdio: 'ignore' });
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

/** Ferry's chunker (FastCDC cut points) over `bytes` of keystream on this thread: best of three, MB/s. */
export function measureCut(bytes = 256 * MiB): number {
  const buf = new Keystream('cut-bench', 'buf').next(bytes);
  const chunker = new Chunker();
  let best = 0;
  for (let pass = 0; pass < 3; pass++) {
    const t0 = nowSeconds();
    chunker.split(buf);
    best = Math.max(best, bytes / 1e6 / (nowSeconds() - t0));
  }
  return best;
}

/** Writes `bytes` in 1 MiB writes to a new file in `dir` (into the page cache), MB/s; the file is removed. */
export function measurePageCacheWrite(dir: string, bytes = 512 * MiB): number {
  const buf = new Keystream('write-bench', 'buf').next(MiB);
  const file = path.join(dir, `write-bench-${process.pid}`);
  const fd = openSync(file, 'w');
  try {
    const t0 = nowSeconds();
    for (let done = 0; done < bytes; done += MiB) writeSync(fd, buf);
    return bytes / 1e6 / (nowSeconds() - t0);
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
}

/**
 * node:tls on loopback with both ends in this process (TLS 1.3, the agents' default cipher), 1 MiB
 * writes: MB moved per CPU-second of the process, so it counts encrypting and decrypting once each.
 */
export async function measureTls(bytes = 512 * MiB): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-tls-bench-'));
  try {
    const ca = await createCertAuthority(dir, 'tls-bench');
    const cert = await issueCertificate(ca, dir, 'server');
    let received = 0;
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    const server = tls.createServer({ cert: cert.certPem, key: cert.keyPem }, (s) =>
      s.on('data', (d: Buffer) => {
        received += d.length;
        if (received >= bytes) done();
      }),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const sock = tls.connect({ host: '127.0.0.1', port, ca: ca.certPem, servername: 'localhost' });
    await new Promise<void>((r, j) => sock.once('secureConnect', r).once('error', j));
    const buf = new Keystream('tls-bench', 'buf').next(MiB);
    const cpu0 = process.cpuUsage();
    for (let sent = 0; sent < bytes; sent += MiB)
      if (!sock.write(buf)) await new Promise((r) => sock.once('drain', r));
    await all;
    const cpu = process.cpuUsage(cpu0);
    sock.destroy();
    server.close();
    return bytes / 1e6 / ((cpu.user + cpu.system) / 1e6);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
