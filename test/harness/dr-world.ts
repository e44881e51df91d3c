// A disaster-recovery world for integration tests, over the run's shared clusters and Temporal:
// one storage agent per cluster (started here, sharing a CA), a `ferry worker` process protecting
// the source on a task queue of its own, kubectl and REST clients for both clusters, and a
// ClusterPair to the destination. Each test file starts one and stops it in afterAll.
//
//   const world = await startDrWorld('migration');
//   await world.kubectl('source', ['apply', '-f', '-'], yaml);
//   const m = await world.waitForMigration('shop', 'm1');
import { KubeConfig } from '@kubernetes/client-node';
import type { Client } from '@temporalio/client';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { KubeClient } from '../../kube/client.js';
import { clusterPairManifest } from '../../client/cluster-pair.js';
import { codecKeysFromEnv } from '../../client/payload-codec.js';
import { connectTemporal } from '../../client/temporal.js';
import { startAgent, type AgentHandle } from '../../localenv/agents.js';
import { startWorker, type StartWorkerOptions, type WorkerHandle } from '../../localenv/worker.js';
import { createCertAuthority } from '../../localenv/tls.js';
import { harness, type HarnessContext } from './context.js';

export type ClusterName = 'source' | 'destination';

export interface DrWorld {
  dir: string;
  taskQueue: string;
  agents: Record<ClusterName, AgentHandle>;
  worker: WorkerHandle;
  /** How `worker` was started: more workers on the same task queue start from these. */
  workerOptions: StartWorkerOptions;
  kube: Record<ClusterName, KubeClient>;
  temporal: Client;
  kubeconfig(cluster: ClusterName): string;
  /** Runs the real kubectl against a cluster; rejects with its stderr on a non-zero exit. */
  kubectl(cluster: ClusterName, args: string[], stdin?: string): Promise<string>;
  /** A ClusterPair manifest to the destination (its kubeconfig inlined, the agent's options). */
  clusterPairYaml(namespace: string, name: string, options?: Record<string, string>): Promise<string>;
  /** Polls the Migration CR until its status is final; returns the CR. */
  waitForMigration(namespace: string, name: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  restartWorker(): Promise<void>;
  stop(): Promise<void>;
}

export interface DrWorldOptions {
  /** The kubeconfig the worker protects the source with (default: the cluster's admin one). */
  workerKubeconfig?: string;
  /** Turns the payload codec on: the worker and `temporal` encrypt with these keys (id:base64key lines). */
  codecKeysFile?: string;
  /** The environment to build on; default the integration run's shared one (test/harness/context.ts). */
  context?: HarnessContext;
  /** Extra `ferry worker` flags, e.g. ['--transfer-stall-seconds', '8']. */
  workerArgs?: string[];
  /** Extra `ferry agent` flags for the destination's agent, e.g. ['--data-plaintext']. */
  destinationAgentArgs?: string[];
}

export async function startDrWorld(name: string, opts: DrWorldOptions = {}): Promise<DrWorld> {
  const { env, workflowBundlePath } = opts.context ?? harness();
  const dir = path.join(env.dir, 'worlds', `${name}-${process.pid}`);
  const ca = await createCertAuthority(path.join(dir, 'ca'), `ferry-test-${name}`);
  const [source, destination] = await Promise.all([
    startAgent({ dir: path.join(dir, 'source'), name: 'source', ca }),
    startAgent({
      dir: path.join(dir, 'destination'),
      name: 'destination',
      ca,
      ...(opts.destinationAgentArgs ? { args: opts.destinationAgentArgs } : {}),
    }),
  ]);
  const agents = { source, destination };
  const kubeconfig = (c: ClusterName) => env.clusters[c]!.kubeconfigPath;
  const taskQueue = `ferry-${name}-${process.pid}`;
  const workerOpts: StartWorkerOptions = {
    dir: path.join(dir, 'worker'),
    temporal: env.temporal,
    taskQueue,
    kubeconfigPath: opts.workerKubeconfig ?? kubeconfig('source'),
    agent: { url: source.url, tokenFile: source.tokenFile, caCertPath: source.caCertPath },
    workflowBundlePath,
    ...(opts.workerArgs ? { args: opts.workerArgs } : {}),
    ...(opts.codecKeysFile ? { env: { FERRY_CODEC_KEYS_FILE: opts.codecKeysFile } } : {}),
  };
  let worker = await startWorker(workerOpts);
  const kube = {
    source: KubeClient.fromString(await readFile(kubeconfig('source'), 'utf8')),
    destination: KubeClient.fromString(await readFile(kubeconfig('destination'), 'utf8')),
  };
  const { client: temporal, close: closeTemporal } = await connectTemporal({
    ...env.temporal,
    codecKeys: await codecKeysFromEnv(
      opts.codecKeysFile ? { FERRY_CODEC_KEYS_FILE: opts.codecKeysFile } : {},
    ),
  });
  const kubectl = (cluster: ClusterName, args: string[], stdin?: string) =>
    new Promise<string>((resolve, reject) => {
      const child = execFile(
        env.bins.kubectl!,
        ['--kubeconfig', kubeconfig(cluster), ...args],
        { timeout: 30_000 },
        (err, stdout, stderr) =>
          err ? reject(new Error(`kubectl ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
      );
      if (stdin !== undefined) child.stdin?.end(stdin);
    });
  const world: DrWorld = {
    dir,
    taskQueue,
    agents,
    get worker() {
      return worker;
    },
    workerOptions: workerOpts,
    kube,
    temporal,
    kubeconfig,
    kubectl,
    async clusterPairYaml(namespace, pairName, options = {}) {
      const kc = new KubeConfig();
      kc.loadFromFile(kubeconfig('destination'));
      const url = new URL(destination.url);
      const manifest = clusterPairManifest(pairName, namespace, kc, {
        ip: url.hostname,
        port: url.port,
        token: destination.token,
        caCertPem: destination.caCertPem,
      }) as { spec: { options: Record<string, string> } };
      Object.assign(manifest.spec.options, options);
      return JSON.stringify(manifest);
    },
    async waitForMigration(namespace, migration, timeoutMs = 90_000) {
      const deadline = Date.now() + timeoutMs;
      let last: Record<string, unknown> | undefined;
      while (Date.now() < deadline) {
        last = (await kube.source.request(
          'GET',
          `/apis/stork.libopenstorage.org/v1alpha1/namespaces/${namespace}/migrations/${migration}`,
        )) as Record<string, unknown>;
        const status = (last['status'] ?? {}) as { status?: string };
        if (status.status && ['Successful', 'PartialSuccess', 'Failed'].includes(status.status)) return last;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(
        `Migration ${namespace}/${migration} not final within ${timeoutMs} ms: ${JSON.stringify(last?.['status'])}; worker log ${worker.logPath}`,
      );
    },
    async restartWorker() {
      await worker.stop().catch(() => undefined);
      worker = await startWorker(workerOpts);
    },
    async stop() {
      await worker.stop().catch(() => undefined);
      // The handles in `agents`: a test may have replaced one with its restart().
      await Promise.all([agents.source.stop(), agents.destination.stop()]);
      await closeTemporal();
    },
  };
  return world;
}
