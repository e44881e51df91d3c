import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { hasEnded, type ReplicationStatus } from '../../datapath/protocol/agent-api.js';
import type { AgentClient } from '../../datapath/client/client.js';
import { repoRoot } from '../../localenv/paths.js';
import { createCertAuthority } from '../../localenv/tls.js';
import { startAgent, type AgentHandle } from '../../localenv/agents.js';
import {
  resetPeakRss,
  round3,
  sampleTree,
  startCountingProxy,
  traceFileReads,
  waitForQuiet,
  nowSeconds,
  type CountingProxy,
  type TreeSample,
} from '../measure.js';
import { Keystream, MiB } from '../dataset.js';
import type { BenchContext, ContentReads, Peer, PeerRun, ScenarioContext } from '../peer.js';

export const VOLUME = 'bench';
/** A second, tiny volume replicated before every measured run to warm the agents up. */
export const WARMUP_VOLUME = 'warmup';
/** The warm-up volume's unchanging small tree: WARMUP_DIRS folders of WARMUP_FILES_PER_DIR 4 KiB files. */
const WARMUP_DIRS = 20;
const WARMUP_FILES_PER_DIR = 100;

export const FERRY_NOTES = [
  'Ferry runs as two real agent processes (`ferry agent`, started with localenv/agents.ts, default flags: no fsync, adaptive compression) sharing one CA. The dataset is generated straight into the source agent\'s volume folder (`<data root>/volumes/bench`), which rsync and restic read too. Each scenario is one `POST /v1/replications` to the source agent (`mode: DisasterRecovery`; the first one `full: true`): the source agent snapshots the volume (incremental on its previous snapshot), asks the destination which chunks it lacks, pushes those and commits the manifest as the destination\'s new restore point. Wall time runs from that request to the benchmark seeing phase "succeeded" (polled every 20 ms).',
  "Ferry's agents are long-running in production, while rsync and restic start fresh processes per run. Since the twenty-first session the agents are started once per run and kept across its scenarios, as a standby pair runs (before, they were restarted before every scenario so that VmHWM was the scenario's, and every scenario measured the JIT compiling its own code paths; now VmHWM is reset right before the measured replication, `/proc/<pid>/clear_refs`). Before each scenario they are warmed up by replicating a second volume: 8 MiB of fresh data beside 2,000 unchanged 4 KiB files in 20 folders, so the warm-up walks, reuses and links many files as the measured incremental runs do (with the 8 MiB file alone, the small scenarios measured the JIT compiling the walk: unchanged at 512 MiB 0.19 s both runs vs 0.10–0.14 s with the tree, touch-250 0.28–0.41 vs 0.23–0.35 s); the measured replication starts once both agents have used no CPU for 150 ms after it (at most 3 s: each agent gives back what a replication pruned right after answering it, which a measured run started at once would pay for, unlike a standby fed every few minutes) (`--cold-agents` instead restarts both agents before every scenario and measures at once: the first replication after an agent starts). The warm-up is not counted in wall time, CPU, bytes or peak RSS.",
  'The agents run from a copy of dist/ taken when the run starts (so a rebuild of the checkout during the run cannot mix builds); the table\'s "Ferry build" row names it.',
  "The destination is given to the source agent as two counting relays (control and data port), so everything the two agents exchange is counted, TLS included; the benchmark's own status polls go to the source agent directly and are not counted. The agent's own bytesOnWire figure is kept in the details file.",
];

/** Which Ferry code the agents ran: the checkout's commit and a digest of the copied build. */
export interface FerryCode {
  gitDescribe: string;
  distDigest: string;
  ferryBin: string;
}

/**
 * Copies the checkout's dist/ (plus package.json and a node_modules link) into `dir` and returns
 * the copy's ferry.js. The agents are restarted before every scenario; running them from a frozen
 * copy keeps one run on one build even when someone rebuilds dist/ meanwhile.
 */
export function freezeBuild(dir: string): FerryCode {
  const root = repoRoot();
  mkdirSync(dir, { recursive: true });
  cpSync(path.join(root, 'dist'), path.join(dir, 'dist'), { recursive: true });
  copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
  symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  const h = createHash('sha256');
  const walk = (d: string): void => {
    for (const name of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, name.name);
      if (name.isDirectory()) walk(p);
      else if (name.name.endsWith('.js')) h.update(name.name).update(readFileSync(p));
    }
  };
  for (const sub of ['datapath', 'workers', 'localenv']) walk(path.join(dir, 'dist', sub));
  let gitDescribe = 'unknown';
  try {
    gitDescribe = execFileSync('git', ['-C', root, 'describe', '--always', '--dirty'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    // not a git checkout
  }
  return {
    gitDescribe,
    distDigest: h.digest('hex').slice(0, 16),
    ferryBin: path.join(dir, 'dist', 'workers', 'ferry.js'),
  };
}

/** ferry_agent_stage_{seconds,bytes}_total by stage, from an agent's GET /metrics text. */
export function parseStageMetrics(text: string): Map<string, { seconds: number; bytes: number }> {
  const out = new Map<string, { seconds: number; bytes: number }>();
  const re = /^ferry_agent_stage_(seconds|bytes)_total\{stage="([a-z]+)"\} ([0-9.eE+-]+)$/gm;
  for (const m of text.matchAll(re)) {
    const t = out.get(m[2]!) ?? { seconds: 0, bytes: 0 };
    t[m[1] as 'seconds' | 'bytes'] = Number(m[3]);
    out.set(m[2]!, t);
  }
  return out;
}

/**
 * One agent's stage times over a scenario, as flat detail keys `stage.<side>.<stage>.seconds` and
 * `.bytes` (the difference of two scrapes; the agents are long-running counters).
 */
export function stageDetails(side: string, before: string, after: string): Record<string, number> {
  const a = parseStageMetrics(before);
  const out: Record<string, number> = {};
  for (const [stage, t] of parseStageMetrics(after)) {
    const b = a.get(stage) ?? { seconds: 0, bytes: 0 };
    out[`stage.${side}.${stage}.seconds`] = round3(t.seconds - b.seconds);
    out[`stage.${side}.${stage}.bytes`] = t.bytes - b.bytes;
  }
  return out;
}

interface Agents {
  src: AgentHandle;
  dst: AgentHandle;
}

/**
 * Ferry's source and destination agents, started once and kept across the scenarios of a run, as
 * a standby pair runs in production; each scenario's peak RSS is its own (resetPeakRss). With
 * `warmUp: false` (`--cold-agents`) both are restarted before every scenario instead (same data
 * roots, ports, token and certificates) and measured at once: the first replication after a start.
 */
export function ferryPeer(
  ctx: BenchContext,
  opts: {
    warmUp: boolean;
    snapshotFirst?: boolean;
    migration?: boolean;
    stream?: boolean;
    dataPlaintext?: boolean;
  } = {
    warmUp: true,
  },
): Peer {
  const dir = path.join(ctx.workDir, 'ferry');
  let agents: Agents | undefined;
  let ctl: CountingProxy | undefined;
  let data: CountingProxy | undefined;
  let client: AgentClient | undefined;
  let runs = 0;
  let code: FerryCode | undefined;

  const stopAll = async (): Promise<void> => {
    client?.close();
    client = undefined;
    if (agents) {
      const a = agents;
      agents = undefined;
      await Promise.all([a.src.stop(), a.dst.stop()]);
      ctx.untrackPid(a.src.pid);
      ctx.untrackPid(a.dst.pid);
    }
  };

  const liveAgents = (): Agents => {
    if (!agents) throw new Error('ferry agents not started');
    return agents;
  };

  const restart = async (): Promise<Agents> => {
    const old = liveAgents();
    client?.close();
    const [src, dst] = await Promise.all([old.src.restart(), old.dst.restart()]);
    ctx.untrackPid(old.src.pid);
    ctx.untrackPid(old.dst.pid);
    agents = { src, dst };
    ctx.trackPid(src.pid);
    ctx.trackPid(dst.pid);
    client = src.client({ timeoutMs: 3_600_000 });
    await client.health();
    return agents;
  };

  const replicate = async (
    full: boolean,
    onPoll?: (s: ReplicationStatus) => void,
    volume = VOLUME,
  ): Promise<ReplicationStatus> => {
    if (!agents || !client || !ctl || !data) throw new Error('ferry peer not set up');
    runs++;
    const destination = {
      url: `https://127.0.0.1:${ctl.port}`,
      dataUrl: `${opts.dataPlaintext ? 'http' : 'https'}://127.0.0.1:${data.port}`,
      token: agents.dst.token,
      caCertPem: agents.dst.caCertPem,
    };
    const req = {
      id: `bench-${runs}`,
      volume,
      destination,
      mode: 'DisasterRecovery',
      ...(full ? { full: true } : {}),
    };
    const wait = { pollMs: 20, ...(onPoll ? { onProgress: onPoll } : {}) };
    const t0 = Date.now();
    const taken = (what: string): void =>
      ctx.log(`ferry: snapshot taken ${Date.now() - t0} ms after the request (${what})`);
    if (volume !== VOLUME || !(opts.snapshotFirst || opts.migration)) return client.replicate(req, wait);
    if (opts.snapshotFirst) {
      // a snapshot of its own (naming the destination it is for), then a replication of it
      const snapshotId = (
        await client.createSnapshot(volume, { full, destination: { ...destination, volume } })
      ).id;
      taken('--snapshot-first');
      return client.replicate({ ...req, snapshotId }, wait);
    }
    // --migration (activities/volumes.ts): the snapshot step starts the replication awaiting
    // confirmation and returns once the snapshot is taken; the transfer step posts the id again,
    // which confirms it, and follows it to the end.
    const stream = { streamDuringSnapshot: opts.stream ?? false };
    let s = await client.startReplication({ ...req, ...stream, awaitConfirm: true });
    while (!s.snapshotId && !hasEnded(s.phase)) s = await client.nextStatus(s.id, s.phase, 500);
    taken(opts.stream ? '--migration --stream' : '--migration');
    await client.startReplication(req);
    return client.waitForReplication(req.id, wait);
  };

  return {
    name: 'ferry',
    async setup() {
      mkdirSync(dir, { recursive: true });
      code = freezeBuild(path.join(dir, 'code'));
      ctx.log(`ferry agents run a frozen copy of dist/ (${code.gitDescribe}, digest ${code.distDigest})`);
      const ca = await createCertAuthority(path.join(dir, 'ca'), 'ferry-bench-ca');
      const [src, dst] = await Promise.all([
        startAgent({ dir: path.join(dir, 'src'), name: 'source', ca, ferryBin: code.ferryBin }),
        startAgent({
          dir: path.join(dir, 'dst'),
          name: 'destination',
          ca,
          ferryBin: code.ferryBin,
          ...(opts.dataPlaintext ? { args: ['--data-plaintext'] } : {}),
        }),
      ]);
      agents = { src, dst };
      ctx.trackPid(src.pid);
      ctx.trackPid(dst.pid);
      ctl = await startCountingProxy(dst.port);
      data = await startCountingProxy(dst.dataPort);
      client = src.client({ timeoutMs: 3_600_000 });
      const vol = await client.createVolume(VOLUME);
      await client.createVolume(WARMUP_VOLUME);
      // The warm-up volume also holds a small tree that never changes, so every warm-up walks,
      // reuses and links many files as the measured incremental runs do (see FERRY_NOTES).
      for (let d = 0; d < WARMUP_DIRS; d++) {
        const dir = path.join(src.volumePath(WARMUP_VOLUME), `d${d}`);
        mkdirSync(dir, { recursive: true });
        for (let k = 0; k < WARMUP_FILES_PER_DIR; k++)
          writeFileSync(path.join(dir, `f${k}`), new Keystream('warmup-tree', `${d}/${k}`).next(4096));
      }
      ctx.sourceDir = vol.path;
      if (path.resolve(vol.path) !== path.resolve(src.volumePath(VOLUME))) {
        throw new Error(`agent put volume ${VOLUME} at ${vol.path}, expected ${src.volumePath(VOLUME)}`);
      }
    },
    async run(s: ScenarioContext): Promise<PeerRun> {
      const { src, dst } = opts.warmUp ? liveAgents() : await restart();
      if (opts.warmUp) {
        // A long-running agent has warm code and connections; one just started does not, and the
        // time since the last scenario (the other tools' runs) lets connections close. Replicate
        // 8 MiB of fresh data (beside the unchanged small tree) on another volume first, so the
        // measured run finds the agents warm.
        writeFileSync(
          path.join(src.volumePath(WARMUP_VOLUME), 'warm.bin'),
          new Keystream('warmup', `run-${runs}`).next(8 * MiB),
        );
        await replicate(false, undefined, WARMUP_VOLUME);
        // what the warm-up pruned is given back right after it answered: not on the measured clock
        await waitForQuiet([src.pid, dst.pid]);
      }
      ctl!.reset();
      data!.reset();
      resetPeakRss(src.pid);
      resetPeakRss(dst.pid);
      const srcClient = src.client();
      const dstClient = dst.client();
      const stagesBefore = await Promise.all([srcClient.metrics(), dstClient.metrics()]);
      const before: [TreeSample, TreeSample] = [sampleTree(src.pid), sampleTree(dst.pid)];
      let lastLog = nowSeconds();
      const t0 = nowSeconds();
      const status = await replicate(s.first, (st) => {
        if (nowSeconds() - lastLog > 10) {
          lastLog = nowSeconds();
          ctx.log(
            `  ferry ${st.phase}: ${st.bytesDone}/${st.bytesTotal} bytes, ${st.chunksSent} chunks sent`,
          );
        }
      });
      const wallSeconds = nowSeconds() - t0;
      const after: [TreeSample, TreeSample] = [sampleTree(src.pid), sampleTree(dst.pid)];
      const stagesAfter = await Promise.all([srcClient.metrics(), dstClient.metrics()]);
      srcClient.close();
      dstClient.close();
      const stages = {
        ...stageDetails('source', stagesBefore[0], stagesAfter[0]),
        ...stageDetails('destination', stagesBefore[1], stagesAfter[1]),
      };
      const c = ctl!.counts();
      const d = data!.counts();
      const srcCpu = after[0].cpuSeconds - before[0].cpuSeconds;
      const dstCpu = after[1].cpuSeconds - before[1].cpuSeconds;
      const snap = status.snapshot;
      const t = status.timings;
      ctx.log(
        `  ferry phases: snapshot ${t.snapshotMs} ms, plan ${t.planMs} ms, transfer ${t.transferMs} ms, commit ${t.commitMs} ms (agent ${status.durationMs ?? -1} ms)`,
      );
      return {
        wallSeconds,
        bytesSent: c.up + c.down + d.up + d.down,
        cpuSeconds: round3(srcCpu + dstCpu),
        peakRssBytes: Math.max(after[0].peakRssBytes, after[1].peakRssBytes),
        details: {
          warmedUp: opts.warmUp,
          snapshotFirst: opts.snapshotFirst ?? false,
          migration: opts.migration ?? false,
          stream: opts.stream ?? false,
          gitDescribe: code?.gitDescribe ?? '',
          distDigest: code?.distDigest ?? '',
          kind: status.kind,
          wireControlUp: c.up,
          wireControlDown: c.down,
          wireDataUp: d.up,
          wireDataDown: d.down,
          agentBytesOnWire: status.bytesOnWire,
          agentChunkBytesOnWire: status.chunkBytesOnWire,
          bytesTotal: status.bytesTotal,
          chunksTotal: status.chunksTotal,
          chunksSent: status.chunksSent,
          chunksSkipped: status.chunksSkipped,
          agentDurationMs: status.durationMs ?? -1,
          snapshotMs: status.timings.snapshotMs,
          planMs: status.timings.planMs,
          transferMs: status.timings.transferMs,
          commitMs: status.timings.commitMs,
          snapshotFilesRead: snap?.stats.filesRead ?? -1,
          snapshotFilesReused: snap?.stats.filesReused ?? -1,
          snapshotBytesRead: snap?.stats.bytesRead ?? -1,
          snapshotDurationMs: snap?.stats.durationMs ?? -1,
          sourceCpuSeconds: round3(srcCpu),
          destinationCpuSeconds: round3(dstCpu),
          sourcePeakRssBytes: after[0].peakRssBytes,
          destinationPeakRssBytes: after[1].peakRssBytes,
          sourceRchar: after[0].rchar - before[0].rchar,
          sourceReadBytes: after[0].readBytes - before[0].readBytes,
          ...stages,
        },
      };
    },
    async traceUnchangedReads(touchOne: () => number): Promise<ContentReads> {
      const { src } = await restart();
      let status: ReplicationStatus | undefined;
      const reads = await traceFileReads(
        src.pid,
        `${ctx.sourceDir}/`,
        path.join(dir, 'strace.log'),
        async () => {
          status = await replicate(false);
        },
      );
      const selfReported = status?.snapshot?.stats.bytesRead;
      const fileSize = touchOne();
      await new Promise((r) => setTimeout(r, 1000));
      const control = await traceFileReads(
        src.pid,
        `${ctx.sourceDir}/`,
        path.join(dir, 'strace-control.log'),
        async () => {
          await replicate(false);
        },
      );
      return {
        bytes: reads.bytes,
        files: reads.files,
        control: { bytes: control.bytes, fileSize },
        method: `strace -f -y of the source agent during a repeated unchanged replication: read/pread64/readv/preadv/preadv2 on files under the volume${selfReported !== undefined ? `; agent reports ${selfReported} bytes read by its snapshot` : ''}${reads.examples.length ? `; e.g. ${reads.examples.join(', ')}` : ''}`,
      };
    },
    build: () => (code ? `${code.gitDescribe}, dist digest ${code.distDigest}` : undefined),
    stop: stopAll,
  };
}
