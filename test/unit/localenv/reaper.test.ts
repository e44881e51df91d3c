import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pidLine, processStartTime, startReaper } from '../../../localenv/reaper.js';

function sleeper(): ChildProcess {
  const child = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
  child.unref();
  return child;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
}

const linux = existsSync('/proc/self/stat');

(linux ? describe : describe.skip)('reaper', () => {
  it('reads a start time that is stable for a process and absent for a pid no process holds', () => {
    const mine = processStartTime(process.pid);
    expect(mine).toMatch(/^\d+$/);
    expect(processStartTime(process.pid)).toBe(mine);
    expect(pidLine(process.pid)).toBe(`${process.pid} ${mine}\n`);
    expect(processStartTime(2 ** 22 + 1)).toBeUndefined();
  });

  it('kills what it listed once the owner is gone, and spares a pid whose start time is not the listed one', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ferry-reaper-'));
    const owner = sleeper();
    const ours = sleeper();
    // A listed pid now held by another process (what pid reuse produces): same pid, other start time.
    const reused = sleeper();
    const pidFile = path.join(dir, 'pids');
    const reusedStart = Number(processStartTime(reused.pid!));
    writeFileSync(pidFile, pidLine(ours.pid!) + `${reused.pid} ${reusedStart + 1}\n`);
    try {
      startReaper(owner.pid!, pidFile);
      await new Promise((r) => setTimeout(r, 1500));
      // The owner still runs: nothing is signalled.
      expect(alive(ours.pid!)).toBe(true);
      process.kill(owner.pid!, 'SIGKILL');
      expect(await until(() => !alive(ours.pid!) || isZombie(ours), 8000)).toBe(true);
      // The reaper removes its list when done; the other process must have survived it.
      expect(await until(() => !existsSync(pidFile), 8000)).toBe(true);
      expect(alive(reused.pid!)).toBe(true);
      expect(isZombie(reused)).toBe(false);
    } finally {
      for (const c of [owner, ours, reused]) if (c.pid && alive(c.pid)) process.kill(c.pid, 'SIGKILL');
    }
  }, 30_000);
});

/** A child killed by someone else stays a zombie until this process reaps it. */
function isZombie(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}
