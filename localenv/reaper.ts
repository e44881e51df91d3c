import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

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
  // Each line of pidFile is "<pid> <start time>" (appendPid). A pid is reused once its process and
  // group are gone: after a long test run a listed pid may name an unrelated process (CI once lost
  // the next command, SIGKILLed by a test worker's reaper). So a listed pid is signalled only while
  // it still has the start time it was listed with; a group whose leader is gone is signalled only
  // while no process holds the pid (Linux does not reuse a pid that still names a process group).
  const script = `
    starttime() { [ -r "/proc/$1/stat" ] && sed 's/^.*) //' "/proc/$1/stat" | cut -d' ' -f20; }
    owner_start=$(starttime ${ownerPid})
    while kill -0 ${ownerPid} 2>/dev/null && [ "$(starttime ${ownerPid})" = "$owner_start" ]; do sleep 1; done
    signal() {
      while read -r p t; do
        [ -n "$p" ] || continue
        if [ -e "/proc/$p" ]; then
          # Ours only if it started when it was listed ("-": no /proc when it was, so trust the pid).
          if [ "$t" = "-" ] || [ -z "$t" ] || [ "$(starttime "$p")" = "$t" ]; then
            kill "-$1" -- "-$p" 2>/dev/null; kill "-$1" "$p" 2>/dev/null
          fi
        elif [ -d /proc/self ]; then
          kill "-$1" -- "-$p" 2>/dev/null
        fi
      done < "$2"
    }
    [ -f "$1" ] || exit 0
    signal TERM "$1"
    sleep 3
    [ -f "$1" ] || exit 0
    signal KILL "$1"
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

/**
 * The line a reaper reads for `pid`: the pid and its start time in clock ticks since boot (field
 * 22 of /proc/<pid>/stat), "-" where there is no /proc.
 */
export function pidLine(pid: number): string {
  return `${pid} ${processStartTime(pid) ?? '-'}\n`;
}

/** Field 22 of /proc/<pid>/stat (after the command, which may hold spaces and parentheses). */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(') ') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** The pid file of the servers started by process `ownerPid` in `dir`. */
export function ownerPidFile(dir: string, ownerPid = process.pid): string {
  return `${dir}/pids.${ownerPid}`;
}

/** The file listing clean-up scripts the reaper runs after killing the servers of `pidFile`. */
export function cleanupFile(pidFile: string): string {
  return `${pidFile}.cleanup`;
}
