import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { resolveBinaries, versionOf, type ServerName } from './binaries.js';
import { installCrds } from './crds.js';
import { startLocalCluster, stopLocalCluster, type LocalCluster } from './kube.js';
import { ownerPidFile, startReaper } from './reaper.js';
import { startTemporalDevServer, type TemporalDevServer } from './temporal.js';

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
  /** Temporal's ports; default: free ones. `up` asks for the well-known 7233/8233 when free. */
  temporalPorts?: { port: number; uiPort: number };
  /** Progress lines ("started etcd v3.6.5 in 0.4 s"). */
  log?: (line: string) => void;
}

/** What a test or a user needs to reach the environment: serialisable, written to state.json. */
export interface EnvironmentState {
  dir: string;
  temporal: { address: string; namespace: string; uiUrl?: string; logPath: string };
  clusters: Record<string, { server: string; kubeconfigPath: string; token: string; logPaths: string[] }>;
  versions: Record<string, string>;
  /** The binaries that run, so users can call the same temporal CLI. */
  bins: Record<string, string>;
  pids: number[];
}

export interface Environment {
  state: EnvironmentState;
  temporal: TemporalDevServer;
  clusters: LocalCluster[];
  stop(): Promise<void>;
}

export const STATE_FILE = 'state.json';

export async function startEnvironment(opts: EnvironmentOptions): Promise<Environment> {
  const log = opts.log ?? (() => {});
  await mkdir(opts.dir, { recursive: true });
  await claimDir(opts.dir);
  const pidFile = ownerPidFile(opts.dir);
  await writeFile(pidFile, '');
  startReaper(process.pid, pidFile);

  const names: ServerName[] = ['temporal', 'etcd', 'kube-apiserver', 'kubectl'];
  const bins = await resolveBinaries(names);
  const versions: Record<string, string> = {};
  for (const n of names) versions[n] = await versionOf(n, bins[n]);

  const started: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of started.reverse()) await stop().catch(() => {});
    started.length = 0;
    // Everything is stopped: leave the reaper nothing to signal (pids may be reused later).
    await rm(pidFile, { force: true });
  };
  try {
    let t = Date.now();
    const temporalDir = path.join(opts.dir, 'temporal');
    await mkdir(temporalDir, { recursive: true });
    const temporal = await startTemporalDevServer({
      bin: bins.temporal,
      dir: temporalDir,
      ui: opts.ui,
      pidFile,
      ...opts.temporalPorts,
    });
    started.push(() => temporal.process.stop());
    log(`temporal ${versions.temporal} ready at ${temporal.address} in ${secs(t)}`);

    const clusters: LocalCluster[] = [];
    for (const name of opts.clusters) {
      t = Date.now();
      const cluster = await startLocalCluster({
        name,
        dir: path.join(opts.dir, 'clusters', name),
        etcdBin: bins.etcd,
        apiserverBin: bins['kube-apiserver'],
        pidFile,
      });
      started.push(() => stopLocalCluster(cluster));
      clusters.push(cluster);
      log(
        `cluster ${name}: ${versions['kube-apiserver']}, ${versions.etcd}, ready at ${cluster.server} in ${secs(t)}`,
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
        ...(temporal.uiUrl ? { uiUrl: temporal.uiUrl } : {}),
        logPath: temporal.process.logPath,
      },
      clusters: Object.fromEntries(
        clusters.map((c) => [
          c.name,
          {
            server: c.server,
            kubeconfigPath: c.kubeconfigPath,
            token: c.token,
            logPaths: [c.etcd.logPath, c.apiserver.logPath],
          },
        ]),
      ),
      versions,
      bins,
      pids: [temporal.process.pid, ...clusters.flatMap((c) => [c.etcd.pid, c.apiserver.pid])],
    };
    await writeFile(path.join(opts.dir, STATE_FILE), JSON.stringify(state, null, 2), { mode: 0o600 });
    return { state, temporal, clusters, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
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
  const files = [state.temporal.logPath, ...Object.values(state.clusters).flatMap((c) => c.logPaths)];
  const extra = await readdir(state.dir).catch(() => [] as string[]);
  return [...files, ...extra.filter((f) => f.endsWith('.log')).map((f) => path.join(state.dir, f))];
}

function secs(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}
