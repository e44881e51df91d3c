import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import path from 'node:path';
import { freePorts, waitForPort } from '../../localenv/ports.js';
import {
  parseTimeOutput,
  runTimed,
  startCountingProxy,
  TIME_FORMAT,
  type CountingProxy,
} from '../measure.js';
import type { BenchContext, Peer, PeerRun, ScenarioContext } from '../peer.js';

/** The numbers `rsync --stats` prints that the benchmark keeps. */
export interface RsyncStats {
  totalBytesSent: number;
  totalBytesReceived: number;
  literalData: number;
  matchedData: number;
  filesTransferred: number;
}

/**
 * Parses `rsync --stats` output. Numbers may carry thousands separators ("1,234,567"; some
 * locales use "." or "'"), and "Number of regular files transferred" is spelled "Number of files
 * transferred" by older versions.
 */
export function parseRsyncStats(text: string): RsyncStats {
  const num = (re: RegExp, what: string): number => {
    const m = re.exec(text);
    if (!m) throw new Error(`rsync --stats output has no "${what}" line`);
    return Number(m[1]!.replace(/[,.' ]/g, ''));
  };
  return {
    totalBytesSent: num(/^Total bytes sent:\s+([\d,.' ]+?)\s*$/m, 'Total bytes sent'),
    totalBytesReceived: num(/^Total bytes received:\s+([\d,.' ]+?)\s*$/m, 'Total bytes received'),
    literalData: num(/^Literal data:\s+([\d,.' ]+?) bytes/m, 'Literal data'),
    matchedData: num(/^Matched data:\s+([\d,.' ]+?) bytes/m, 'Matched data'),
    filesTransferred: num(
      /^Number of (?:regular )?files transferred:\s+([\d,.' ]+?)\s*$/m,
      'files transferred',
    ),
  };
}

/** rsyncd.conf for one writable module rooted at `dest`, running as the invoking user. */
export function rsyncdConfig(dest: string, pidFile: string, logFile: string): string {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  return [
    `pid file = ${pidFile}`,
    `log file = ${logFile}`,
    'use chroot = no',
    `uid = ${uid}`,
    `gid = ${gid}`,
    '',
    '[vol]',
    `  path = ${dest}`,
    '  read only = no',
    '  list = yes',
    '',
  ].join('\n');
}

/**
 * rsync through its daemon on loopback: `rsync -a --no-whole-file --delete --stats SRC/
 * rsync://127.0.0.1:PROXY/vol/`. A fresh daemon is started for every scenario under GNU time and
 * stopped after the client exits, so its rusage (which includes the per-connection processes it
 * forked and reaped: the receiver and generator) belongs to that scenario alone. CPU = client +
 * daemon; peak RSS = the larger of the two (they would be on different machines).
 */
export function rsyncPeer(ctx: BenchContext): Peer {
  const dir = path.join(ctx.workDir, 'rsync');
  const dest = path.join(dir, 'dest');
  const conf = path.join(dir, 'rsyncd.conf');
  const pidFile = path.join(dir, 'rsyncd.pid');
  let daemonPort = 0;
  let proxy: CountingProxy | undefined;
  let daemon: { time: ChildProcess; exited: Promise<void> } | undefined;

  async function startDaemon(): Promise<void> {
    rmSync(pidFile, { force: true });
    const logFd = openSync(path.join(dir, 'daemon-stdout.log'), 'a');
    const time = spawn(
      '/usr/bin/time',
      [
        '-f',
        TIME_FORMAT,
        '-o',
        path.join(dir, 'daemon.time'),
        'rsync',
        '--daemon',
        '--no-detach',
        `--config=${conf}`,
        `--port=${daemonPort}`,
        '--address=127.0.0.1',
      ],
      { stdio: ['ignore', logFd, logFd], detached: true },
    );
    closeSync(logFd);
    if (time.pid !== undefined) ctx.trackPid(time.pid);
    const exited = new Promise<void>((resolve) =>
      time.once('exit', () => {
        if (time.pid !== undefined) ctx.untrackPid(time.pid);
        resolve();
      }),
    );
    daemon = { time, exited };
    await waitForPort(daemonPort, 10_000);
  }

  function daemonPid(): number {
    return Number(readFileSync(pidFile, 'utf8').trim());
  }

  async function stopDaemon(): Promise<{ cpuSeconds: number; peakRssBytes: number } | undefined> {
    if (!daemon) return undefined;
    const d = daemon;
    daemon = undefined;
    let pid = 0;
    try {
      pid = daemonPid();
    } catch {
      // no pid file: the daemon never came up
    }
    if (pid > 0) {
      // Wait for the per-connection processes to finish and be reaped, so their usage is counted.
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        let kids = '';
        try {
          kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
        } catch {
          break;
        }
        if (!kids) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // gone
      }
    }
    const timer = setTimeout(() => {
      try {
        if (d.time.pid) process.kill(-d.time.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }, 5000);
    await d.exited;
    clearTimeout(timer);
    try {
      return parseTimeOutput(readFileSync(path.join(dir, 'daemon.time'), 'utf8'));
    } catch {
      return undefined;
    }
  }

  return {
    name: 'rsync',
    async setup() {
      mkdirSync(dest, { recursive: true });
      [daemonPort] = (await freePorts(1)) as [number];
      writeFileSync(conf, rsyncdConfig(dest, pidFile, path.join(dir, 'rsyncd.log')));
      proxy = await startCountingProxy(daemonPort);
    },
    async run(_s: ScenarioContext): Promise<PeerRun> {
      if (!proxy) throw new Error('rsync peer not set up');
      await startDaemon();
      proxy.reset();
      const client = await runTimed(
        'rsync',
        [
          '-a',
          '--no-whole-file',
          '--delete',
          '--stats',
          `${ctx.sourceDir}/`,
          `rsync://127.0.0.1:${proxy.port}/vol/`,
        ],
        {
          timeFile: path.join(dir, 'client.time'),
          onSpawn: (pid) => ctx.trackPid(pid),
          onExit: (pid) => ctx.untrackPid(pid),
        },
      ).catch(async (err: unknown) => {
        await stopDaemon();
        throw err;
      });
      const daemonUsage = await stopDaemon();
      if (client.code !== 0) {
        throw new Error(
          `rsync exited with ${client.code ?? client.signal}: ${client.stderr.trim().slice(-2000)}`,
        );
      }
      if (!daemonUsage) throw new Error('rsync daemon usage not recorded');
      const wire = proxy.counts();
      const stats = parseRsyncStats(client.stdout);
      return {
        wallSeconds: client.wallSeconds,
        bytesSent: wire.up + wire.down,
        cpuSeconds: Math.round((client.cpuSeconds + daemonUsage.cpuSeconds) * 1000) / 1000,
        peakRssBytes: Math.max(client.peakRssBytes, daemonUsage.peakRssBytes),
        details: {
          wireUp: wire.up,
          wireDown: wire.down,
          connections: wire.connections,
          statsTotalBytesSent: stats.totalBytesSent,
          statsTotalBytesReceived: stats.totalBytesReceived,
          statsLiteralData: stats.literalData,
          statsMatchedData: stats.matchedData,
          filesTransferred: stats.filesTransferred,
          clientCpuSeconds: client.cpuSeconds,
          daemonCpuSeconds: daemonUsage.cpuSeconds,
          clientPeakRssBytes: client.peakRssBytes,
          daemonPeakRssBytes: daemonUsage.peakRssBytes,
        },
      };
    },
    async stop() {
      await stopDaemon();
      await proxy?.close();
      proxy = undefined;
    },
  };
}
