// `npm run bench:resources [-- --sizes 100,1000,3000]`: how long a Migration of N objects in one
// namespace takes through Ferry (kubectl apply of a Migration -> the worker's workflow ->
// Successful), how big its workflow history is, and how long the same objects take with
// `kubectl get -o json | (strip server fields) | kubectl apply -f -` to the same standby, in the
// same run. A second, unchanged migration shows what the resource-hash skip saves. Writes
// bench/results/resources.json and a table for docs/benchmarks.md.
import { KubeConfig } from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { KubeClient } from '../kube/client.js';
import { clusterPairManifest } from '../client/cluster-pair.js';
import { codecKeysFromEnv } from '../client/payload-codec.js';
import { connectTemporal } from '../client/temporal.js';
import { startAgent } from '../localenv/agents.js';
import { startEnvironment } from '../localenv/environment.js';
import { repoRoot } from '../localenv/paths.js';
import { startWorker } from '../localenv/worker.js';
import { machineInfo } from './machine.js';

const KINDS = 'configmaps,secrets,services,deployments';

interface Row {
  objects: number;
  ferrySeconds: number;
  ferryUnchangedSeconds: number;
  kubectlSeconds: number;
  historyEvents: number;
  historyBytes: number;
  migrated: number;
}

function objectsFor(ns: string, n: number): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (let i = 0; i < n; i++) {
    const name = `obj-${String(i).padStart(5, '0')}`;
    const labels = { app: `app-${i % 20}`, tier: i % 2 ? 'web' : 'db' };
    const meta = { name, namespace: ns, labels };
    switch (i % 5) {
      case 0:
      case 1:
        out.push({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: meta,
          data: { 'config.yaml': `key: ${'v'.repeat(900)}\nindex: ${i}\n` },
        });
        break;
      case 2:
        out.push({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: meta,
          stringData: { password: `secret-${i}` },
        });
        break;
      case 3:
        out.push({
          apiVersion: 'v1',
          kind: 'Service',
          metadata: meta,
          spec: { selector: labels, ports: [{ port: 80, targetPort: 8080 }] },
        });
        break;
      default:
        out.push({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: meta,
          spec: {
            replicas: 2,
            selector: { matchLabels: labels },
            template: {
              metadata: { labels },
              spec: { containers: [{ name: 'app', image: 'busybox', command: ['sleep', 'infinity'] }] },
            },
          },
        });
    }
  }
  return out;
}

async function createAll(kube: KubeClient, objects: Array<Record<string, unknown>>): Promise<void> {
  const kinds: Record<string, Parameters<KubeClient['apply']>[0]> = {
    ConfigMap: { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
    Secret: { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true },
    Service: { group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true },
    Deployment: { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true },
  };
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < objects.length) {
        const o = objects[next++]!;
        await kube.apply(kinds[String(o['kind'])]!, o);
      }
    }),
  );
}

/** What `kubectl get -o json` returns, cut to what `kubectl apply` accepts on another cluster. */
function stripForApply(listJson: string, ns: string): string {
  const list = JSON.parse(listJson) as { items: Array<Record<string, any>> }; // eslint-disable-line @typescript-eslint/no-explicit-any
  const items = list.items
    .filter((o) => !(o.kind === 'ConfigMap' && o.metadata.name === 'kube-root-ca.crt'))
    .map((o) => {
      const { name, labels, annotations } = o.metadata;
      const out: Record<string, any> = { ...o, metadata: { name, namespace: ns, labels, annotations } }; // eslint-disable-line @typescript-eslint/no-explicit-any
      delete out.status;
      if (o.kind === 'Service') {
        delete out.spec.clusterIP;
        delete out.spec.clusterIPs;
      }
      return out;
    });
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}

async function main(): Promise<void> {
  const sizesArg = process.argv.indexOf('--sizes');
  const sizes = sizesArg > 0 ? process.argv[sizesArg + 1]!.split(',').map(Number) : [100, 1000, 3000];
  const dir = path.join(repoRoot(), '.ferry', 'bench-resources');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const say = (l: string) => void process.stderr.write(`[bench] ${l}\n`);
  const env = await startEnvironment({ dir, clusters: ['source', 'destination'], crds: true, log: say });
  const stops: Array<() => Promise<void>> = [() => env.stop()];
  try {
    const src = env.state.clusters.source!;
    const dst = env.state.clusters.destination!;
    const agent = await startAgent({ dir: path.join(dir, 'agent'), name: 'source' });
    stops.unshift(() => agent.stop());
    const worker = await startWorker({
      dir: path.join(dir, 'worker'),
      temporal: env.state.temporal,
      kubeconfigPath: src.kubeconfigPath,
      agent: { url: agent.url, tokenFile: agent.tokenFile, caCertPath: agent.caCertPath },
    });
    stops.unshift(() => worker.stop());
    const source = KubeClient.fromString(readFileSync(src.kubeconfigPath, 'utf8'));
    const kubectl = env.state.bins.kubectl!;
    const k = (cfg: string, args: string[], input?: string) =>
      new Promise<string>((resolve, reject) => {
        const child = execFile(
          kubectl,
          ['--kubeconfig', cfg, ...args],
          { maxBuffer: 1 << 30 },
          (err, out, errOut) => (err ? reject(new Error(errOut || err.message)) : resolve(out)),
        );
        if (input !== undefined) child.stdin?.end(input);
      });
    const { client: temporal, close: closeTemporal } = await connectTemporal({
      ...env.state.temporal,
      codecKeys: await codecKeysFromEnv(),
    });
    stops.unshift(closeTemporal);
    const rows: Row[] = [];
    for (const n of sizes) {
      const ns = `bench-${n}`;
      await k(src.kubeconfigPath, ['create', 'namespace', ns]);
      await createAll(source, objectsFor(ns, n));
      const kc = new KubeConfig();
      kc.loadFromFile(dst.kubeconfigPath);
      // Resources only: a pair without storage options (storageStatus NotProvided).
      const pair = clusterPairManifest('remote', ns, kc) as { spec: { options?: unknown } };
      delete pair.spec.options;
      await k(src.kubeconfigPath, ['apply', '-f', '-'], JSON.stringify(pair));
      // The workflow exists once the controller has started it; the clock runs from the apply.
      const migrate = async (name: string) => {
        const t0 = performance.now();
        const migration = {
          apiVersion: 'stork.libopenstorage.org/v1alpha1',
          kind: 'Migration',
          metadata: { name, namespace: ns },
          spec: { clusterPair: 'remote', namespaces: [ns], includeVolumes: false },
        };
        await k(src.kubeconfigPath, ['apply', '-f', '-'], JSON.stringify(migration));
        const handle = temporal.workflow.getHandle(`migration/${ns}/${name}`);
        for (let i = 0; ; i++) {
          try {
            await handle.describe();
            break;
          } catch (err) {
            if (i > 400) throw err;
            await new Promise((r) => setTimeout(r, 25));
          }
        }
        const result = (await handle.result()) as {
          status: string;
          summary: { numOfMigratedResources: number };
        };
        if (result.status !== 'Successful') throw new Error(`migration ${ns}/${name}: ${result.status}`);
        return { seconds: (performance.now() - t0) / 1000, migrated: result.summary.numOfMigratedResources };
      };
      const first = await migrate('first');
      const second = await migrate('again');
      const history = await temporal.workflow.getHandle(`migration/${ns}/first`).fetchHistory();
      const historyBytes = Buffer.byteLength(JSON.stringify(history));
      const peerNs = `${ns}-kubectl`;
      await k(dst.kubeconfigPath, ['create', 'namespace', peerNs]);
      const t0 = performance.now();
      const listed = await k(src.kubeconfigPath, ['get', KINDS, '-n', ns, '-o', 'json']);
      await k(dst.kubeconfigPath, ['apply', '-f', '-'], stripForApply(listed, peerNs));
      const kubectlSeconds = (performance.now() - t0) / 1000;
      const row: Row = {
        objects: n,
        ferrySeconds: round(first.seconds),
        ferryUnchangedSeconds: round(second.seconds),
        kubectlSeconds: round(kubectlSeconds),
        historyEvents: history.events?.length ?? 0,
        historyBytes,
        migrated: first.migrated,
      };
      say(JSON.stringify(row));
      rows.push(row);
    }
    const out = { date: new Date().toISOString(), machine: machineInfo(), rows };
    writeFileSync(
      path.join(repoRoot(), 'bench', 'results', 'resources.json'),
      JSON.stringify(out, null, 2) + '\n',
    );
    process.stdout.write(table(rows) + '\n');
  } finally {
    for (const stop of stops) await stop().catch(() => undefined);
  }
}

const round = (x: number) => Math.round(x * 100) / 100;

export function table(rows: Row[]): string {
  const lines = [
    '| objects | Ferry migration s | Ferry, unchanged s | kubectl get \\| apply s | Ferry vs kubectl | history events | history size |',
    '| ------: | ----------------: | -----------------: | ---------------------: | ---------------: | -------------: | -----------: |',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.objects} | ${r.ferrySeconds.toFixed(2)} | ${r.ferryUnchangedSeconds.toFixed(2)} | ${r.kubectlSeconds.toFixed(2)} | ${(r.ferrySeconds / r.kubectlSeconds).toFixed(2)}× | ${r.historyEvents} | ${(r.historyBytes / 1024).toFixed(1)} KiB |`,
    );
  }
  return lines.join('\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`[bench] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
