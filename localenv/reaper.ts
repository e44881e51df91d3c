import { spawn } from 'node:child_process';

/**
 * Starts a tiny detached watchdog that outlives `ownerPid`: once the owner is gone (finished,
 * crashed, killed with SIGKILL, or a Ctrl-C that skipped clean-up), it terminates every process
 * group listed in `pidFile` (and the pid itself, for a process that is not a group leader),
 * escalating to SIGKILL, then runs every script listed in `cleanupFile(pidFile)` (what killing
 * cannot undo: containers of a node, their mounts, its bridge). Servers therefore never outlive the
 * run that started them. A clean stop deletes `pidFile` and the reaper then just exits.
 * `pidFile` must belong to this owner alone (see ownerPidFile): a reaper that read a file shared
 * with a later run would kill that run's servers.
 */
export function startReaper(ownerPid: number, pidFile: string): void {
  const script = `
    while kill -0 ${ownerPid} 2>/dev/null; do sleep 1; done
    [ -f "$1" ] || exit 0
    for p in $(cat "$1"); do kill -TERM -- "-$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null; done
    sleep 3
    [ -f "$1" ] || exit 0
    for p in $(cat "$1"); do kill -KILL -- "-$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
    if [ -f "$1.cleanup" ]; then
      # Last registered first, as a clean stop does (a node restores what the one before it saw).
      tac "$1.cleanup" | while read -r s; do [ -f "$s" ] && bash "$s" >/dev/null 2>&1; done
    fi
    rm -f "$1" "$1.cleanup"
  `;
  const child = spawn('bash', ['-c', script, 'ferry-reaper', pidFile], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
}

/** The pid file of the servers started by process `ownerPid` in `dir`. */
export function ownerPidFile(dir: string, ownerPid = process.pid): string {
  return `${dir}/pids.${ownerPid}`;
}

/** The file listing clean-up scripts the reaper runs after killing the servers of `pidFile`. */
export function cleanupFile(pidFile: string): string {
  return `${pidFile}.cleanup`;
}
