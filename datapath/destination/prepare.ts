// Destination side: copies of the current restore point's large files made ahead of a commit.
//
// A commit patches a changed large file (tree.ts patchFile) by copying its previous version and
// writing only the changed chunks over the copy; the copy of a big file is most of that commit's
// time (the `write` stage was 57% of the wall time of the 512 MiB benchmark's append-10MiB
// scenario). The source knows which files changed as soon as its snapshot finds their stat
// changed, before it spends seconds reading them, and names them then (POST
// /v1/standby/:v/prepare); this class starts copying them from the current restore point while
// the source reads, and the commit takes the finished copy instead of copying. A copy belongs to
// the restore point it was made from: a commit on any other base ignores it. Copies are made one
// at a time per agent in `<standby>/<volume>/tmp` (emptied when the agent starts), and every copy
// a commit did not take is deleted when that commit ends, or after PREPARED_IDLE_MS without a
// commit (a replication that failed after naming its files must not hold their space).
import fs from 'node:fs';
import path from 'node:path';
import type { StageClock } from '../stages.js';
import { newId } from '../fs-util.js';
import type { FileEntry, Manifest } from '../protocol/manifest.js';
import { PATCH_MIN_BYTES } from '../protocol/limits.js';
import { copyPrevious } from './tree.js';

/** Copies of a volume are deleted this long after the last request without a commit. */
export const PREPARED_IDLE_MS = 15 * 60_000;

/** Copies prepared per volume at most (the files of one replication, in practice a handful). */
export const MAX_PREPARED_PER_VOLUME = 64;

interface Prepared {
  volume: string;
  file: string;
  /** Resolves true once the copy is complete, false if it failed or never ran (no file then). */
  done: Promise<boolean>;
  /** The copy has started (copies wait their turn behind the agent's other copies). */
  begun: boolean;
  /** Taken or discarded before its turn came: it will not run. */
  cancelled: boolean;
}

/** Per volume, a timer that calls `expire(volume)` once `ms` pass without a touch. */
export class IdleTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly ms: number,
    private readonly expire: (volume: string) => void,
  ) {}

  touch(volume: string): void {
    clearTimeout(this.timers.get(volume));
    const timer = setTimeout(() => this.expire(volume), this.ms);
    timer.unref();
    this.timers.set(volume, timer);
  }

  clear(volume: string): void {
    clearTimeout(this.timers.get(volume));
    this.timers.delete(volume);
  }
}

export class PreparedCopies {
  private readonly volumes = new Map<string, { base: string; files: Map<string, Prepared> }>();
  private chain: Promise<unknown> = Promise.resolve();
  /** Copies not finished, in the order they run (the first may be running). */
  private readonly line: Prepared[] = [];
  /** Copies started, and copies a commit took (ferry_agent_standby_prepared_copies_total). */
  readonly counts = { started: 0, taken: 0 };

  private readonly idle: IdleTimers;

  constructor(
    private readonly stages: StageClock,
    idleMs = PREPARED_IDLE_MS,
  ) {
    this.idle = new IdleTimers(idleMs, (volume) => this.discard(volume));
  }

  /**
   * Starts copying the files among `paths` that restore point `base` (its tree in `baseDir`,
   * `manifest`) holds at PATCH_MIN_BYTES or more, into `tmpDir`. Returns how many it started.
   */
  prepare(
    volume: string,
    base: { id: string; dir: string; manifest: Manifest },
    paths: readonly string[],
    tmpDir: string,
    /** Makes the copy `file` of `src` (version `e`); default: copyPrevious. */
    make: (src: string, file: string, e: FileEntry) => Promise<void> = (src, file, e) =>
      copyPrevious(src, file, e.size),
  ): number {
    let v = this.volumes.get(volume);
    if (v && v.base !== base.id) {
      this.discard(volume);
      v = undefined;
    }
    if (!v) this.volumes.set(volume, (v = { base: base.id, files: new Map() }));
    this.idle.touch(volume);
    const wanted = new Set(paths);
    let started = 0;
    for (const e of base.manifest.entries) {
      if (v.files.size >= MAX_PREPARED_PER_VOLUME) break;
      if (e.type !== 'file' || e.size < PATCH_MIN_BYTES || !wanted.has(e.path) || v.files.has(e.path))
        continue;
      v.files.set(e.path, this.copy(volume, path.join(base.dir, e.path), e, tmpDir, make));
      started++;
      this.counts.started++;
    }
    return started;
  }

  private copy(
    volume: string,
    src: string,
    e: FileEntry,
    tmpDir: string,
    make: (src: string, file: string, e: FileEntry) => Promise<void>,
  ): Prepared {
    const file = path.join(tmpDir, `prepared.${newId()}`);
    const p: Prepared = { volume, file, done: Promise.resolve(false), begun: false, cancelled: false };
    this.line.push(p);
    p.done = this.chain
      .then(() => {
        if (p.cancelled) return false;
        p.begun = true;
        return this.stages.wait(
          'write',
          e.size,
          make(src, file, e).then(
            () => true,
            async () => {
              await fs.promises.rm(file, { force: true });
              return false;
            },
          ),
        );
      })
      .finally(() => this.line.splice(this.line.indexOf(p), 1));
    this.chain = p.done;
    return p;
  }

  /**
   * The finished copy of `rel` made from restore point `base`, now the caller's to rename or
   * delete; null when there is none (not asked for, another base, not started yet, or the copy
   * failed). Waits for a copy in progress: finishing it costs less than starting over.
   */
  async take(volume: string, base: string, rel: string): Promise<string | null> {
    const v = this.volumes.get(volume);
    const p = v?.base === base ? v.files.get(rel) : undefined;
    if (!p) return null;
    v?.files.delete(rel);
    // Not started yet behind another volume's copies: the commit copies sooner itself. Behind
    // only this volume's own (the commit's other files), it runs next: waiting costs no more than
    // a second copy competing for the same device.
    if (!p.begun && this.line.slice(0, this.line.indexOf(p)).some((q) => q.volume !== volume)) {
      p.cancelled = true;
      return null;
    }
    if (!(await p.done)) return null;
    this.counts.taken++;
    return p.file;
  }

  /** Forgets a volume's copies, deleting each once it is finished. */
  discard(volume: string): void {
    this.idle.clear(volume);
    const v = this.volumes.get(volume);
    if (!v) return;
    this.volumes.delete(volume);
    for (const p of v.files.values()) {
      if (!p.begun) p.cancelled = true;
      void p.done.then(() => fs.promises.rm(p.file, { force: true }).catch(() => undefined));
    }
  }

  /** Copies of `volume` not taken yet. */
  pending(volume: string): number {
    return this.volumes.get(volume)?.files.size ?? 0;
  }
}
