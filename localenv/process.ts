import { spawn } from 'node:child_process';
import { appendFileSync, openSync, closeSync, readFileSync } from 'node:fs';
import { pidLine } from './reaper.js';

/**
 * A server process Ferry started itself: its own process group (so children die with it), stdout
 * and stderr appended to one log file, and a stop that escalates from SIGTERM to SIGKILL.
 */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Resolves with the exit code (or the signal name) when the process has exited. */
  readonly exited: Promise<number | string>;
  /** The process's stdout, when started with `pipeStdout` (also copied to the log). */
  readonly stdout?: NodeJS.ReadableStream;
  /** True until the process has exited. */
  running(): boolean;
  /** SIGTERM the process group, SIGKILL it after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL the process group at once (a crash, for tests); resolves when it has exited. */
  kill(): Promise<void>;
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  logPath: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** A file the pid is appended to, read by the reaper (localenv/reaper.ts). */
  pidFile?: string;
  /** Pipe stdout to the caller (e.g. to read a ready line) while still copying it to the log. */
  pipeStdout?: boolean;
  /** Run as this user and group (a server that refuses root, such as PostgreSQL). */
  uid?: number;
  gid?: number;
}

export function startProcess(opts: StartOptions): ManagedProcess {
  const fd = openSync(opts.logPath, 'a');
  const child = spawn(opts.command, opts.args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', opts.pipeStdout ? 'pipe' : fd, fd],
    detached: true,
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
  });
  closeSync(fd);
  if (child.pid === undefined) {
    throw new Error(`could not start ${opts.name} (${opts.command}); see ${opts.logPath}`);
  }
  const pid = child.pid;
  child.stdout?.on('data', (d: Buffer | string) => appendFileSync(opts.logPath, d));
  if (opts.pidFile) appendFileSync(opts.pidFile, pidLine(pid));
  let alive = true;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      alive = false;
      resolve(code ?? signal ?? 'unknown');
    });
    child.once('error', (err) => {
      alive = false;
      appendFileSync(opts.logPath, `\n[ferry] failed to start ${opts.command}: ${err.message}\n`);
      resolve('spawn-error');
    });
  });
  // The caller decides the lifetime; never keep the parent's event loop alive for a server.
  child.unref();

  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  };

  return {
    name: opts.name,
    pid,
    logPath: opts.logPath,
    exited,
    ...(child.stdout ? { stdout: child.stdout } : {}),
    running: () => alive,
    async stop(graceMs = 5000) {
      if (!alive) return;
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (!alive) return;
      signalGroup('SIGKILL');
      await exited;
    },
  };
}

/** The last `lines` lines of a log file, for error messages that point at the cause. */
export function tailLog(logPath: string, lines = 20): string {
  try {
    const text = readFileSync(logPath, 'utf8').trimEnd().split('\n');
    return text.slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Polls `check` until it returns true; fails early, with the log tail, if the process dies, and
 * after `timeoutMs` otherwise.
 */
export async function waitUntil(
  proc: ManagedProcess,
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!proc.running()) {
      throw new Error(`${proc.name} exited before ${what} (log: ${proc.logPath}):\n${tailLog(proc.logPath)}`);
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${proc.name} not ${what} after ${timeoutMs} ms (log: ${proc.logPath}):\n${tailLog(proc.logPath)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Waits for the first stdout line of `proc` that parses as JSON with `ready: true` (Ferry's
 * servers print one when they serve); rejects, killing the process, after `timeoutMs`, or when
 * the process exits first. Started with `pipeStdout`.
 */
export function waitForReadyLine<T extends { ready?: boolean }>(
  proc: ManagedProcess,
  timeoutMs: number,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      void proc.kill();
      reject(new Error(`${proc.name} not ready within ${timeoutMs} ms; see ${proc.logPath}`));
    }, timeoutMs);
    const stdout = proc.stdout as NodeJS.ReadableStream;
    stdout.setEncoding('utf8');
    stdout.on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const msg = JSON.parse(line) as T;
          if (msg.ready) {
            clearTimeout(timer);
            resolve(msg);
          }
        } catch {
          // not the ready line
        }
      }
    });
    void proc.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${proc.name} exited with ${code} before it was ready; see ${proc.logPath}`));
    });
  });
}
