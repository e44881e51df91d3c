// Two protected sites on the embedded default: the local environment's "source" and
// "destination" clusters, one storage agent each (sharing a CA), and a `ferry worker` per site
// started on demand. `npm run up` and `npm run drill` both build on it.
//
//   const pair = await startDrPair({ dir, nodes: true, log });
//   await pair.startWorker('source');
//   await applyFile(pair.kubeconfig('source'), file with pair.clusterPair('source', 'remote', 'app'));
//   await pair.waitForMigration('source', 'app', 'first');
import { KubeConfig } from '@kubernetes/client-node';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { KubeClient } from '../kube/client.js';
import { GROUP_VERSION, type MigrationStatus } from '../api/index.js';
import { clusterPairManifest } from '../client/cluster-pair.js';
import { startAgent, type AgentHandle } from './agents.js';
import { resolveBinaries } from './binaries.js';
import { startEnvironment, type Environment, type EnvironmentOptions } from './environment.js';
import { startWorker, type WorkerHandle } from './worker.js';

export type Site = 'source' | 'destination';
export const SITES: readonly Site[] = ['source', 'destination'];

export interface DrPair {
  env: Environment;
  agents: Record<Site, AgentHandle>;
  /** The worker protecting each site, once started. */
  workers: Partial<Record<Site, WorkerHandle>>;
  kubectl: string;
  kubeconfig(site: Site): string;
  kube(site: Site): Promise<KubeClient>;
  /**
   * Starts (or restarts) the worker protecting `site`, on task queue `ferry-<site>`; `args` are
   * extra `ferry worker` flags.
   */
  startWorker(site: Site, opts?: { args?: string[] }): Promise<WorkerHandle>;
  /** A ClusterPair on `from` toward the other site: its kubeconfig inlined, its agent's options. */
  clusterPair(from: Site, name: string, namespace: string, mode?: string): Record<string, unknown>;
  /** Polls a Migration on `site` until it is final; its status, or an error naming it. */
  waitForMigration(
    site: Site,
    namespace: string,
    name: string,
    opts?: { timeoutMs?: number; say?: (line: string) => void },
  ): Promise<MigrationStatus>;
  stop(): Promise<void>;
}

export async function startDrPair(
  opts: Omit<EnvironmentOptions, 'clusters' | 'crds'> & { dir: string },
): Promise<DrPair> {
  const env = await startEnvironment({ ...opts, clusters: [...SITES], crds: true });
  const agents: Partial<Record<Site, AgentHandle>> = {};
  const workers: Partial<Record<Site, WorkerHandle>> = {};
  const stop = async () => {
    await Promise.all(Object.values(workers).map((w) => w.stop().catch(() => {})));
    await Promise.all(Object.values(agents).map((a) => a.stop().catch(() => {})));
    await env.stop();
  };
  try {
    agents.source = await startAgent({ dir: path.join(opts.dir, 'agents', 'source'), name: 'source' });
    agents.destination = await startAgent({
      dir: path.join(opts.dir, 'agents', 'destination'),
      name: 'destination',
      ca: agents.source.ca ?? undefined,
    });
    const { kubectl } = await resolveBinaries(['kubectl']);
    const kubeconfig = (site: Site) => env.state.clusters[site]!.kubeconfigPath;
    const sites = agents as Record<Site, AgentHandle>;
    const other = (site: Site): Site => (site === 'source' ? 'destination' : 'source');
    const pair: DrPair = {
      env,
      agents: sites,
      workers,
      kubectl: kubectl!,
      kubeconfig,
      kube: async (site) => KubeClient.fromString(await readFile(kubeconfig(site), 'utf8')),
      async startWorker(site, { args } = {}) {
        await workers[site]?.stop().catch(() => {});
        const agent = sites[site];
        workers[site] = await startWorker({
          dir: path.join(opts.dir, 'workers', site),
          name: `worker-${site}`,
          temporal: env.state.temporal,
          taskQueue: `ferry-${site}`,
          kubeconfigPath: kubeconfig(site),
          agent: { url: agent.url, tokenFile: agent.tokenFile, caCertPath: agent.caCertPath },
          ...(args ? { args } : {}),
        });
        return workers[site]!;
      },
      clusterPair(from, name, namespace, mode) {
        const to = other(from);
        const kc = new KubeConfig();
        kc.loadFromFile(kubeconfig(to));
        const url = new URL(sites[to].url);
        return clusterPairManifest(name, namespace, kc, {
          ip: url.hostname,
          port: url.port,
          token: sites[to].token,
          caCertPem: sites[to].caCertPem,
          ...(mode ? { mode } : {}),
        }) as Record<string, unknown>;
      },
      async waitForMigration(site, namespace, name, { timeoutMs = 180_000, say } = {}) {
        const kube = await pair.kube(site);
        const url = `/apis/${GROUP_VERSION}/namespaces/${namespace}/migrations/${name}`;
        const deadline = Date.now() + timeoutMs;
        let last = '';
        for (;;) {
          const cr = (await kube.request('GET', url).catch(() => ({}))) as { status?: MigrationStatus };
          const s = cr.status;
          const now = `${s?.stage || '-'} ${s?.status || 'Pending'}`;
          if (now !== last) say?.(`migration ${namespace}/${name}: ${now}`);
          last = now;
          if (s && ['Successful', 'PartialSuccess', 'Failed'].includes(s.status ?? '')) return s;
          if (Date.now() > deadline)
            throw new Error(
              `migration ${namespace}/${name} on ${site} not final within ${timeoutMs / 1000} s (${now})`,
            );
          await new Promise((r) => setTimeout(r, 250));
        }
      },
      stop,
    };
    return pair;
  } catch (err) {
    await stop();
    throw err;
  }
}

/** One line for a finished migration: volumes, bytes and resources moved. */
export function migrationOutcome(s: MigrationStatus, elapsedMs: number): string {
  const v = s.summary;
  return `${s.status} in ${(elapsedMs / 1000).toFixed(1)} s: ${v?.numOfMigratedVolumes}/${v?.totalNumberOfVolumes} volumes (${((v?.totalBytesMigrated ?? 0) / 1048576).toFixed(1)} MiB), ${v?.numOfMigratedResources}/${v?.totalNumberOfResources} resources`;
}

/** One migration of a MigrationSchedule's `status.items`. */
export interface ScheduleItem {
  name: string;
  status?: string;
  creationTimestamp?: string;
  finishTimestamp?: string;
}

/** The parts of a MigrationSchedule CR the local tools read. */
export interface ScheduleCr {
  spec?: { suspend?: boolean };
  status?: { applicationActivated?: boolean; items?: Record<string, ScheduleItem[]> };
}

/** A MigrationSchedule CR on `site`; undefined while it (or its cluster) cannot be read. */
export async function scheduleCr(
  pair: DrPair,
  site: Site,
  namespace: string,
  name: string,
): Promise<ScheduleCr | undefined> {
  const kube = await pair.kube(site);
  return (await kube
    .request('GET', `/apis/${GROUP_VERSION}/namespaces/${namespace}/migrationschedules/${name}`)
    .catch(() => undefined)) as ScheduleCr | undefined;
}

/**
 * The migrations a MigrationSchedule on `site` lists in its status, every policy type together,
 * oldest first; none while the schedule (or its cluster) cannot be read.
 */
export async function scheduleItems(
  pair: DrPair,
  site: Site,
  namespace: string,
  name: string,
): Promise<ScheduleItem[]> {
  const cr = await scheduleCr(pair, site, namespace, name);
  return Object.values(cr?.status?.items ?? {})
    .flat()
    .sort((a, b) => (a.creationTimestamp ?? '').localeCompare(b.creationTimestamp ?? ''));
}
