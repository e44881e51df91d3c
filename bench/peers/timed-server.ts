// A peer's server (the rsync daemon, sshd) started fresh for one scenario under GNU time and
// stopped after the client exits, so its rusage, which includes the per-connection processes it
// forked and reaped, belongs to that scenario alone.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { waitForPort } from '../../localenv/ports.js';
import { parseTimeOutput, TIME_FORMAT } from '../measure.js';
import type { BenchContext } from '../peer.js';

export interface TimedServerSpec {
  /** Folder for its logs and GNU time's output. */
  dir: string;
  /** Short name for its files (`<name>.time`, `<name>-stdout.log`). */
  name: string;
  command: string;
  /** Arguments that keep it in the foreground (it must not detach from GNU time). */
  args: string[];
  /** The pid file it writes: the listener to stop once its connections are done. */
  pidFile: string;
  port: number;
}

export interface TimedServer {
  /** Waits for its connection processes to end, stops it, and returns its usage. */
  stop(): Promise<{ cpuSeconds: number; peakRssBytes: number } | undefined>;
}

export async function startTimedServer(ctx: BenchContext, spec: TimedServerSpec): Promise<TimedServer> {
  rmSync(spec.pidFile, { force: true });
  const timeFile = path.join(spec.dir, `${spec.name}.time`);
  const logFd = openSync(path.join(spec.dir, `${spec.name}-stdout.log`), 'a');
  const time: ChildProcess = spawn(
    '/usr/bin/time',
    ['-f', TIME_FORMAT, '-o', timeFile, spec.command, ...spec.args],
    {
      stdio: ['ignore', logFd, logFd],
      detached: true,
    },
  );
  closeSync(logFd);
  if (time.pid !== undefined) ctx.trackPid(time.pid);
  const exited = new Promise<void>((resolve) =>
    time.once('exit', () => {
      if (time.pid !== undefined) ctx.untrackPid(time.pid);
      resolve();
    }),
  );
  let stopped = false;
  const stop: TimedServer['stop'] = async () => {
    if (stopped) return undefined;
    stopped = true;
    let pid = 0;
    try {
      pid = Number(readFileSync(spec.pidFile, 'utf8').trim());
    } catch {
      // no pid file: the server never came up
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
        if (time.pid) process.kill(-time.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }, 5000);
    await exited;
    clearTimeout(timer);
    try {
      return parseTimeOutput(readFileSync(timeFile, 'utf8'));
    } catch {
      return undefined;
    }
  };
  try {
    await waitForPort(spec.port, 10_000);
  } catch (err) {
    await stop();
    const log = readFileSync(path.join(spec.dir, `${spec.name}-stdout.log`), 'utf8')
      .trim()
      .slice(-1000);
    throw new Error(
      `${spec.command} did not listen on port ${spec.port}: ${String(err)}${log ? `\n${log}` : ''}`,
    );
  }
  return { stop };
}
