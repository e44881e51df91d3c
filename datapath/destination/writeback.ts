// Destination side: whether a copy may go through the page cache without meeting write-back.
//
// copyPrevious (tree.ts) copies a restore point's large file before a commit patches it. Through
// the page cache the copy is a memcpy, and the device writes follow in the background. But once
// the dirty pages pass the kernel's background threshold (vm.dirty_background_bytes, else
// vm.dirty_background_ratio percent of the memory available), write-back runs while the copy goes
// on, and near vm.dirty_ratio the copy itself is throttled: measured during the 2 GiB benchmark,
// copying the 1.7 GiB file that way cost ~4 s of system time while the previous commit's
// gigabytes were written back, so copies use O_DIRECT writes. Where the copy fits well under the
// threshold with what is dirty already, the page cache is faster (0.3 s for 0.85 GiB, measured
// then); that is the case pageCacheRoom decides: half the room left, to leave write-back margin.
import fs from 'node:fs';

export interface WritebackSettings {
  /** vm.dirty_background_bytes (0: the ratio applies). */
  backgroundBytes: number;
  /** vm.dirty_background_ratio, percent. */
  backgroundRatio: number;
}

/**
 * Bytes that can still be dirtied before the kernel starts background write-back, from
 * /proc/meminfo's text (MemAvailable, Dirty, Writeback) and the vm settings; 0 when unknown.
 */
export function pageCacheRoom(meminfo: string, vm: WritebackSettings): number {
  const bytes = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(meminfo);
    return m ? Number(m[1]) * 1024 : NaN;
  };
  const available = bytes('MemAvailable');
  const dirty = bytes('Dirty') + bytes('Writeback');
  if (!Number.isFinite(available) || !Number.isFinite(dirty)) return 0;
  const threshold = vm.backgroundBytes > 0 ? vm.backgroundBytes : (available * vm.backgroundRatio) / 100;
  return Math.max(0, threshold - dirty);
}

let settings: WritebackSettings | null | undefined;

function readSettings(): WritebackSettings | null {
  try {
    const read = (f: string): number => Number(fs.readFileSync(`/proc/sys/vm/${f}`, 'utf8').trim());
    const s = {
      backgroundBytes: read('dirty_background_bytes'),
      backgroundRatio: read('dirty_background_ratio'),
    };
    return Number.isFinite(s.backgroundBytes) && Number.isFinite(s.backgroundRatio) ? s : null;
  } catch {
    return null; // not Linux: copies keep O_DIRECT (or whatever copyPrevious falls back to)
  }
}

/** Whether copying `size` bytes through the page cache now stays under half the room left. */
export function fitsInPageCache(size: number): boolean {
  settings ??= readSettings();
  if (!settings) return false;
  try {
    return size <= pageCacheRoom(fs.readFileSync('/proc/meminfo', 'utf8'), settings) / 2;
  } catch {
    return false;
  }
}
