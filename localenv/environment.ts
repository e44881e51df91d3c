import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { resolveBinaries, temporalSchemaDir, versionOf, type ServerName } from './binaries.js';
import { installCrds } from './crds.js';
import { busyboxImage, postgresImage, type LocalImage } from './images.js';
import { startLocalCluster, stopLocalCluster, type LocalCluster } from './kube.js';
import { checkNodePrerequisites } from './nodehost.js';
import { cleanupFile, ownerPidFile, startReaper } from './reaper.js';
import type { ManagedProcess } from './process.js';
import { startTemporalDevServer, type TemporalDevServer } from './temporal.js';
import { startTemporalPostgres, type TemporalPostgres } from './temporal-postgres.js';

/**
 * Ferry's embedded default: one Temporal dev server and N simulated clusters, all real servers on
 * loopback, all state under one directory. Used by `npm run up` and by the integration tests'
 * global setup, so both run exactly the same thing.
 */
export interface EnvironmentOptions {
  /** Where every server keeps its data, logs, certificates and kubeconfigs. */
  dir: string;
  /** Cluster names, e.g. ['source', 'destination']. */
  clusters: string[];
  /** Start the Temporal Web UI too. */
  ui?: boolean;
  /** Install the CRDs in deploy/crds into every cluster. */
  crds?: boolean;
  /**
   * Start each cluster's kube-controller-manager and kube-scheduler (default true): PVCs bind,
   * namespaces finalize, garbage is collected, Deployments get ReplicaSets and Pods.
   */
  controlPlane?: boolean;
  /**
   * Start one node per cluster (containerd + kubelet; default false), so pods run. Needs root,
   * Debian's containerd, runc, containernetworking-plugins and busybox-static; implies controlPlane.
   */
  nodes?: boolean;
  /**
   * Images beyond busybox to build and import into every node: 'postgres' is PostgreSQL from
   * Debian's postgresql-15 (deploy/samples/postgres.yaml runs it).
   */
  nodeImages?: Array<'postgres'>;
  /**
   * Which Temporal: 'dev' (default) is `temporal server start-dev` on SQLite; 'postgres' is Temporal
   * Server on a private PostgreSQL 15 cluster (localenv/temporal-postgres.ts; no Web UI, free ports).
   */
  temporal?: 'dev' | 'postgres';
  /** Temporal's ports; default: free ones. `up` asks for the well-known 7233/8233 when free. */
  temporalPorts?: { port: number; uiPort: number };
  /** The Web UI's codec server URL (`ferry codec-server`), when payloads are encrypted. */
  uiCodecEndpoint?: string;
  /** Progress lines ("started etcd v3.6.5 in 0.4 s"). */
  log?: (line: string) => void;
}

/** What a test or a user needs to reach the environment: serialisable, written to state.json. */
export interface EnvironmentState {
  dir: string;
  temporal: {
    address: string;
    namespace: string;
    uiUrl?: string;
    logPath: string;
    /** Set when Temporal Server runs on PostgreSQL (`temporal: 'postgres'`). */
    postgres?: { port: number; logPath: string };
  };
  clusters: Record<string, ClusterState>;
  /** Images every node has (imported from local tarballs): use them with imagePullPolicy: Never. */
  images?: { busybox: string; postgres?: string };
  versions: Record<string, string>;
  /** The binaries that run, so users can call the same temporal CLI. */
  bins: Record<string, string>;
  pids: number[];
}

export interface ClusterState {
  server: string;
  kubeconfigPath: string;
  token: string;
  logPaths: string[];
  /** kube-controller-manager and kube-scheduler run. */
  controlPlane: boolean;
  /** The cluster's one node, when started with `nodes: true`. */
  node?: {
    name: string;
    /** The node's InternalIP (its bridge's address), where its kubelet serves. */
    ip: string;
    kubeletPort: number;
    podSubnet: string;
    bridge: string;
    containerdSocket: string;
  };
}

export interface Environment {
  state: EnvironmentState;
  /** The dev server, or Temporal Server on PostgreSQL (its handle restarts it; see `temporal`). */
  temporal: TemporalDevServer | TemporalPostgres;
  clusters: LocalCluster[];
  stop(): Promise<void>;
}

export const STATE_FILE = 'state.json';

const run = promisify(execFile);

export async function startEnvironment(opts: EnvironmentOptions): Promise<Environment> {
  const log = opts.log ?? (() => {});
  await mkdir(opts.dir, { recursive: true });
  await claimDir(opts.dir);
  await cleanupStaleNodes(opts.dir);
  const pidFile = ownerPidFile(opts.dir);
  await writeFile(pidFile, '');
  startReaper(process.pid, pidFile);

  const nodes = opts.nodes ?? false;
  const controlPlane = nodes || (opts.controlPlane ?? true);
  // Fail before building anything when the machine cannot run nodes.
  if (nodes) await checkNodePrerequisites();
  const onPostgres = opts.temporal === 'postgres';
  const names: ServerName[] = ['temporal', 'etcd', 'kube-apiserver', 'kubectl'];
  if (onPostgres) names.push('temporal-server', 'temporal-sql-tool');
  if (controlPlane) names.push('kube-controller-manager', 'kube-scheduler');
  if (nodes) names.push('kubelet');
  const bins = await resolveBinaries(names);
  const images: LocalImage[] = nodes ? [await busyboxImage()] : [];
  const postgres = nodes && opts.nodeImages?.includes('postgres') ? await postgresImage() : undefined;
  if (postgres) images.push(postgres);
  const versions: Record<string, string> = {};
  for (const n of names) versions[n] = await versionOf(n, bins[n]);

  const started: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of started.reverse()) await stop().catch(() => {});
    started.length = 0;
    // Everything is stopped: leave the reaper nothing to signal (pids may be reused later).
    await rm(pidFile, { force: true });
    await rm(cleanupFile(pidFile), { force: true });
  };
  try {
    let t = Date.now();
    const temporalDir = path.join(opts.dir, 'temporal');
    await mkdir(temporalDir, { recursive: true });
    const temporal = onPostgres
      ? await startTemporalPostgres({
          dir: temporalDir,
          bins: { server: bins['temporal-server'], sqlTool: bins['temporal-sql-tool'] },
          schemaDir: await temporalSchemaDir(),
          pidFile,
        })
      : await startTemporalDevServer({
          bin: bins.temporal,
          dir: temporalDir,
          ui: opts.ui,
          ...(opts.uiCodecEndpoint ? { uiCodecEndpoint: opts.uiCodecEndpoint } : {}),
          pidFile,
          ...opts.temporalPorts,
        });
    started.push(() => ('postgres' in temporal ? temporal.stop() : temporal.process.stop()));
    log(
      'postgres' in temporal
        ? `${versions['temporal-server']} (Temporal Server) on PostgreSQL ready at ${temporal.address} in ${secs(t)} (${Object.entries(
            temporal.timings,
          )
            .map(([k, ms]) => `${k} ${(ms / 1000).toFixed(1)} s`)
            .join(', ')})`
        : `temporal ${versions.temporal} ready at ${temporal.address} in ${secs(t)}`,
    );

    const clusters: LocalCluster[] = [];
    for (const name of opts.clusters) {
      t = Date.now();
      const cluster = await startLocalCluster({
        name,
        dir: path.join(opts.dir, 'clusters', name),
        etcdBin: bins.etcd,
        apiserverBin: bins['kube-apiserver'],
        ...(controlPlane
          ? {
              controlPlane: {
                controllerManagerBin: bins['kube-controller-manager'],
                schedulerBin: bins['kube-scheduler'],
              },
            }
          : {}),
        ...(nodes ? { node: { kubeletBin: bins.kubelet, images } } : {}),
        pidFile,
      });
      started.push(() => stopLocalCluster(cluster));
      clusters.push(cluster);
      const parts = [
        controlPlane ? 'etcd, apiserver, controller-manager, scheduler' : 'etcd, apiserver',
        ...(cluster.node
          ? [`node ${cluster.node.name} (${cluster.node.ip}, pods ${cluster.node.podSubnet})`]
          : []),
      ];
      log(
        `cluster ${name}: ${versions['kube-apiserver']}, ${parts.join(', ')}, ready at ${cluster.server} in ${secs(t)}`,
      );
    }
    if (opts.crds) {
      t = Date.now();
      const count = await Promise.all(clusters.map((c) => installCrds(c.kubeconfigPath)));
      log(`installed ${count[0] ?? 0} CRDs in each cluster in ${secs(t)}`);
    }

    const state: EnvironmentState = {
      dir: opts.dir,
      temporal: {
        address: temporal.address,
        namespace: temporal.namespace,
        ...('uiUrl' in temporal && temporal.uiUrl ? { uiUrl: temporal.uiUrl } : {}),
        logPath: temporal.process.logPath,
        ...('postgres' in temporal
          ? { postgres: { port: temporal.postgres.port, logPath: temporal.postgres.process.logPath } }
          : {}),
      },
      clusters: Object.fromEntries(
        clusters.map((c) => [
          c.name,
          {
            server: c.server,
            kubeconfigPath: c.kubeconfigPath,
            token: c.token,
            logPaths: processesOf(c).map((p) => p.logPath),
            controlPlane: Boolean(c.controlPlane),
            ...(c.node
              ? {
                  node: {
                    name: c.node.name,
                    ip: c.node.ip,
                    kubeletPort: c.node.kubeletPort,
                    podSubnet: c.node.podSubnet,
                    bridge: c.node.bridge,
                    containerdSocket: c.node.containerdSocket,
                  },
                }
              : {}),
          } satisfies ClusterState,
        ]),
      ),
      ...(images[0]
        ? { images: { busybox: images[0].name, ...(postgres ? { postgres: postgres.name } : {}) } }
        : {}),
      versions,
      bins,
      pids: [
        temporal.process.pid,
        ...('postgres' in temporal ? [temporal.postgres.process.pid] : []),
        ...clusters.flatMap((c) => processesOf(c).map((p) => p.pid)),
      ],
    };
    await writeFile(path.join(opts.dir, STATE_FILE), JSON.stringify(state, null, 2), { mode: 0o600 });
    return { state, temporal, clusters, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** Every server process of a cluster, in start order. */
function processesOf(c: LocalCluster): ManagedProcess[] {
  return [
    c.etcd,
    c.apiserver,
    ...(c.controlPlane ? [c.controlPlane.controllerManager, c.controlPlane.scheduler] : []),
    ...(c.node ? [c.node.containerd, c.node.kubelet] : []),
  ];
}

/**
 * Runs the cleanup script of every node a previous environment in `dir` left (one whose owner and
 * reaper were both killed): its containers, mounts and bridge go, so the directory can be removed
 * and reused. Call it only when no live process owns `dir`.
 */
export async function cleanupStaleNodes(dir: string): Promise<void> {
  const clusters = await readdir(path.join(dir, 'clusters')).catch(() => [] as string[]);
  const nodes: Array<{ script: string; started: number }> = [];
  for (const c of clusters) {
    const nodeDir = path.join(dir, 'clusters', c, 'node');
    const script = path.join(nodeDir, 'cleanup.sh');
    if (!existsSync(script)) continue;
    const started = await stat(path.join(nodeDir, 'sysctl-before-kubelet')).then(
      (s) => s.mtimeMs,
      () => 0,
    );
    nodes.push({ script, started });
  }
  // Last started first, as a clean stop does (a node restores what the one before it saw).
  for (const n of nodes.sort((a, b) => b.started - a.started)) await run('bash', [n.script]).catch(() => {});
}

/** One environment per directory: refuse a directory a live process still runs servers from. */
async function claimDir(dir: string): Promise<void> {
  const owner = path.join(dir, 'owner.pid');
  const pid = Number.parseInt(await readFile(owner, 'utf8').catch(() => ''), 10);
  if (pid && pid !== process.pid && isAlive(pid)) {
    throw new Error(
      `${dir} is in use by process ${pid}, which runs an environment there: stop it or use another directory`,
    );
  }
  await writeFile(owner, String(process.pid));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function readEnvironmentState(dir: string): Promise<EnvironmentState> {
  return JSON.parse(await readFile(path.join(dir, STATE_FILE), 'utf8')) as EnvironmentState;
}

/** Every log file of an environment, for failure messages. */
export async function logFiles(state: EnvironmentState): Promise<string[]> {
  const files = [
    state.temporal.logPath,
    ...(state.temporal.postgres ? [state.temporal.postgres.logPath] : []),
    ...Object.values(state.clusters).flatMap((c) => c.logPaths),
  ];
  const extra = await readdir(state.dir).catch(() => [] as string[]);
  return [...files, ...extra.filter((f) => f.endsWith('.log')).map((f) => path.join(state.dir, f))];
}

function secs(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}
