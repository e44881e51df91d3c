// What the source agent keeps of its replications across restarts, under <root>/state: one JSON
// status per replication (replications/<id>.json), and per volume, destination and destination
// volume how many replications succeeded (replication-counts.json), which decides when the next
// one is full (mode.ts). If the source agent itself dies, its persisted record becomes
// failed/interrupted (retryable) when the records are opened on restart.
import fs from 'node:fs';
import path from 'node:path';
import { hasEnded, type DestinationSpec, type ReplicationStatus } from '../protocol/agent-api.js';
import { LatestWriter, readJson, writeFileAtomic } from '../fs-util.js';

export class ReplicationRecords {
  private counts: Record<string, number> = {};
  /**
   * Statuses and counts are written behind, newest content last (fs-util.ts LatestWriter). A failed
   * write goes to `onError` (the agent's log): the status and count stay right in memory, and the
   * next write of the file is whole; only a restart would read the older record.
   */
  private readonly writer: LatestWriter;

  private constructor(
    private readonly stateDir: string,
    private readonly countsFile: string,
    onError?: (file: string, err: unknown) => void,
  ) {
    this.writer = new LatestWriter(onError);
  }

  /** Opens the records under `root`, with the statuses kept there (running ones marked interrupted). */
  static async open(
    root: string,
    onError?: (file: string, err: unknown) => void,
  ): Promise<{ records: ReplicationRecords; statuses: ReplicationStatus[] }> {
    const r = new ReplicationRecords(
      path.join(root, 'state', 'replications'),
      path.join(root, 'state', 'replication-counts.json'),
      onError,
    );
    await fs.promises.mkdir(r.stateDir, { recursive: true });
    try {
      r.counts = await readJson<Record<string, number>>(r.countsFile);
    } catch {
      r.counts = {};
    }
    const statuses: ReplicationStatus[] = [];
    for (const f of await fs.promises.readdir(r.stateDir)) {
      const file = path.join(r.stateDir, f);
      if (!f.endsWith('.json')) {
        await fs.promises.rm(file, { force: true });
        continue;
      }
      const status = await readJson<ReplicationStatus>(file).catch(() => null);
      if (!status) continue;
      if (!hasEnded(status.phase)) {
        status.phase = 'failed';
        status.finishedAt = new Date().toISOString();
        status.error = {
          code: 'interrupted',
          message: 'the source agent restarted during this replication; start it again to resume',
          retryable: true,
        };
        await writeFileAtomic(file, JSON.stringify(status));
      }
      statuses.push(status);
    }
    return { records: r, statuses };
  }

  private countKey(volume: string, d: DestinationSpec): string {
    return `${volume}|${d.url.replace(/\/+$/, '')}|${d.volume ?? volume}`;
  }

  /** How many replications of `volume` to `d` succeeded. */
  previous(volume: string, d: DestinationSpec): number {
    return this.counts[this.countKey(volume, d)] ?? 0;
  }

  /**
   * Counts one more replication of `volume` to `d` that succeeded (at once: previous() sees it);
   * the file is written behind, resolving once it is.
   */
  succeeded(volume: string, d: DestinationSpec): Promise<void> {
    const key = this.countKey(volume, d);
    this.counts[key] = (this.counts[key] ?? 0) + 1;
    return this.writer.write(this.countsFile, JSON.stringify(this.counts));
  }

  /**
   * Writes a replication's status behind, resolving once it (or a newer one) is written; a failed
   * write leaves the old record (the status is in memory).
   */
  save(status: ReplicationStatus): Promise<void> {
    return this.writer.write(path.join(this.stateDir, `${status.id}.json`), JSON.stringify(status));
  }

  /** Deletes a replication's record (in the background, after its pending writes). */
  remove(id: string): void {
    void this.writer.remove(path.join(this.stateDir, `${id}.json`));
  }

  /** Resolves once every record asked for so far is written. */
  flush(): Promise<void> {
    return this.writer.flush();
  }
}
