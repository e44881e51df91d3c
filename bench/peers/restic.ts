import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { runTimed, treeBytes } from '../measure.js';
import type { BenchContext, Peer, PeerRun, ScenarioContext } from '../peer.js';

/** The fields of restic's `backup --json` summary message the benchmark keeps. */
export interface ResticSummary {
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dataAdded: number;
  totalBytesProcessed: number;
  snapshotId: string;
}

/** Finds the `"message_type":"summary"` line in restic's JSON-lines output. */
export function parseResticSummary(stdout: string): ResticSummary {
  for (const line of stdout.split('\n').reverse()) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(t) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (msg.message_type !== 'summary') continue;
    const n = (k: string): number => (typeof msg[k] === 'number' ? (msg[k] as number) : 0);
    return {
      filesNew: n('files_new'),
      filesChanged: n('files_changed'),
      filesUnmodified: n('files_unmodified'),
      dataAdded: n('data_added'),
      totalBytesProcessed: n('total_bytes_processed'),
      snapshotId: typeof msg.snapshot_id === 'string' ? msg.snapshot_id : '',
    };
  }
  throw new Error('restic printed no summary message');
}

/**
 * restic backing up the source into a local repository (a cache folder in the work dir). It is
 * the peer for snapshot + content-defined dedupe cost, not for the network: bytesSent is the
 * repository's growth (apparent size of its files before and after, like `du -sb`), i.e. what a
 * remote repository would have had to receive; restic's own `data_added` is kept in the details.
 */
export function resticPeer(ctx: BenchContext): Peer {
  const dir = path.join(ctx.workDir, 'restic');
  const repo = path.join(dir, 'repo');
  const cache = path.join(dir, 'cache');
  const env = { ...process.env, RESTIC_PASSWORD: 'ferry-bench', RESTIC_PROGRESS_FPS: '0.2' };
  const base = ['--repo', repo, '--cache-dir', cache];
  return {
    name: 'restic',
    async setup() {
      mkdirSync(cache, { recursive: true });
      const init = await runTimed('restic', [...base, 'init'], {
        env,
        timeFile: path.join(dir, 'init.time'),
        onSpawn: (pid) => ctx.trackPid(pid),
        onExit: (pid) => ctx.untrackPid(pid),
      });
      if (init.code !== 0) throw new Error(`restic init failed: ${init.stderr.trim()}`);
    },
    async run(_s: ScenarioContext): Promise<PeerRun> {
      const before = treeBytes(repo);
      const r = await runTimed(
        'restic',
        [...base, 'backup', '--json', '--host', 'ferry-bench', ctx.sourceDir],
        {
          env,
          timeFile: path.join(dir, 'backup.time'),
          onSpawn: (pid) => ctx.trackPid(pid),
          onExit: (pid) => ctx.untrackPid(pid),
        },
      );
      if (r.code !== 0)
        throw new Error(`restic backup exited with ${r.code ?? r.signal}: ${r.stderr.trim().slice(-2000)}`);
      const summary = parseResticSummary(r.stdout);
      const after = treeBytes(repo);
      return {
        wallSeconds: r.wallSeconds,
        bytesSent: after - before,
        cpuSeconds: r.cpuSeconds,
        peakRssBytes: r.peakRssBytes,
        details: {
          repoBytesBefore: before,
          repoBytesAfter: after,
          dataAdded: summary.dataAdded,
          filesNew: summary.filesNew,
          filesChanged: summary.filesChanged,
          filesUnmodified: summary.filesUnmodified,
          totalBytesProcessed: summary.totalBytesProcessed,
        },
      };
    },
    async stop() {},
  };
}
