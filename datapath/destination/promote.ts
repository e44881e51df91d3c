// Failover on the destination: a restore point becomes a writable volume.
//
// Restore points share files through hard links and must never be written to, so promoting one
// copies it (reflinked where the filesystem can) into `<root>/volumes/<target>` and records the
// promotion in `standby/<volume>/promoted.json`. Failback needs `replace`: the old active side's
// volume is still there, holding data from before the failover; it is moved aside (kept for the
// operator, never deleted here) in the same instant the promoted copy takes its place.
import fs from 'node:fs';
import path from 'node:path';
import { AgentError } from '../errors.js';
import { fsyncDir, newId, writeFileAtomic } from '../fs-util.js';
import { isVolumeName } from '../protocol/manifest.js';

/** What a promotion made: kept in `standby/<volume>/promoted.json`. */
export interface Promotion {
  restorePoint: string;
  /** The writable volume it created (`<root>/volumes/<target>`). */
  path: string;
  at: string;
  /** Where the volume that was at `path` before went (a replace), when there was one. */
  replaced?: string;
}

export interface Promoted {
  volume: string;
  path: string;
  restorePoint: string;
  replaced?: string;
}

/** The last promotion recorded in standby volume folder `vdir`, unless the volume it made is gone. */
export function lastPromotion(vdir: string): Promotion | undefined {
  try {
    const p = JSON.parse(fs.readFileSync(path.join(vdir, 'promoted.json'), 'utf8')) as Promotion;
    return fs.existsSync(p.path) ? p : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Copies restore point `id` of the standby volume in `vdir` to `<volumesDir>/<target>` and records
 * the promotion. A target that exists is refused, unless `replace`: then it goes to
 * `<volumesDir>/.replaced/<target>-<time>`.
 */
export async function promoteRestorePoint(
  vdir: string,
  id: string,
  volumesDir: string,
  target: string,
  replace: boolean,
): Promise<Promoted> {
  if (!isVolumeName(target))
    throw new AgentError(
      400,
      'bad_request',
      `target ${JSON.stringify(target)}: not a valid volume name`,
      false,
    );
  const dest = path.join(volumesDir, target);
  if (fs.existsSync(dest) && !replace)
    throw new AgentError(409, 'conflict', `volume ${target} already exists`, false);
  const tmp = `${dest}.tmp-${process.pid}-${newId()}`;
  await fs.promises.cp(await fs.promises.realpath(path.join(vdir, 'rp', id)), tmp, {
    recursive: true,
    preserveTimestamps: true,
    verbatimSymlinks: true,
    mode: fs.constants.COPYFILE_FICLONE,
  });
  const at = new Date().toISOString();
  let replaced: string | undefined;
  if (fs.existsSync(dest)) {
    const aside = path.join(volumesDir, '.replaced');
    await fs.promises.mkdir(aside, { recursive: true });
    replaced = path.join(aside, `${target}-${at.replace(/[:.]/g, '')}`);
    await fs.promises.rename(dest, replaced);
  }
  await fs.promises.rename(tmp, dest);
  await fsyncDir(volumesDir);
  const record: Promotion = { restorePoint: id, path: dest, at, ...(replaced ? { replaced } : {}) };
  await writeFileAtomic(path.join(vdir, 'promoted.json'), JSON.stringify(record));
  return { volume: target, path: dest, restorePoint: id, ...(replaced ? { replaced } : {}) };
}
