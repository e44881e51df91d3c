#!/usr/bin/env node
// `npm run up`: Ferry's embedded default, on one machine, with real servers only: a Temporal dev
// server with its Web UI, two clusters ("source" and "destination", each a real etcd and
// kube-apiserver), Ferry's CRDs in both, one storage agent per cluster, Ferry's worker protecting
// the source, and the sample app on the source with its volume on the source agent. It applies a
// ClusterPair and a Migration, so the app and its data arrive on the standby through the
// Migration workflow, prints where everything is and runs until Ctrl-C, then stops every server
// it started. <dir>/state.json (written once everything is ready) tells scripts where things are.
//
//   npm run up [-- --dir DIR] [--exit] [--nodes]
//
// --exit stops right after everything is up and checked (CI uses it to keep this command true).
// --nodes gives each cluster a node (containerd + kubelet; root and Debian's containerd, runc,
// containernetworking-plugins, busybox-static and postgresql-15 needed) and runs the PostgreSQL
// StatefulSet sample (deploy/samples/postgres.yaml) on the source, its data under DIR/volumes.
import { KubeConfig } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { KubeClient } from '../activities/kube/client.js';
import { DISASTER_RECOVERY_MODE, GROUP_VERSION, type MigrationStatus } from '../api/index.js';
import { clusterPairManifest } from '../client/cluster-pair.js';
import { startAgent, type AgentHandle } from '../localenv/agents.js';
import { applyFile } from '../localenv/apply.js';
import { resolveBinaries } from '../localenv/binaries.js';
import { STATE_FILE, startEnvironment } from '../localenv/environment.js';
import { repoRoot } from '../localenv/paths.js';
import { portIsFree } from '../localenv/ports.js';
import { tailLog } from '../localenv/process.js';
import { startWorker, type WorkerHandle } from '../localenv/worker.js';

interface UpArgs {
  dir: string;
  exit: boolean;
  nodes: boolean;
}

function parseArgs(argv: string[]): UpArgs {
  const args: UpArgs = { dir: path.join(repoRoot(), '.ferry', 'up'), exit: false, nodes: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--exit') args.exit = true;
    else if (a === '--nodes') args.nodes = true;
    else if (a === '--dir' && argv[i + 1]) args.dir = path.resolve(argv[++i]!);
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: npm run up [-- --dir DIR] [--exit] [--nodes]\n');
      process.exit(0);
    } else throw new Error(`unknown argument '${a}' (expected --dir DIR, --exit or --nodes)`);
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const say = (line: string): void => void process.stderr.write(`[up] ${line}\n`);
  const t0 = Date.now();
  say(`starting Ferry's local environment in ${args.dir} (first run builds the servers: minutes)`);
  // Temporal's well-known ports when free, so localhost:8233 is the UI as users expect.
  const wellKnown = (await portIsFree(7233)) && (await portIsFree(8233));
  const env = await startEnvironment({
    dir: args.dir,
    clusters: ['source', 'destination'],
    ui: true,
    crds: true,
    nodes: args.nodes,
    ...(args.nodes ? { nodeImages: ['postgres' as const] } : {}),
    log: say,
    ...(wellKnown ? { temporalPorts: { port: 7233, uiPort: 8233 } } : {}),
  });
  let stopping = false;
  const agents: AgentHandle[] = [];
  const workers: WorkerHandle[] = [];
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say('stopping every server');
    await Promise.all(workers.map((w) => w.stop().catch(() => {})));
    await Promise.all(agents.map((a) => a.stop().catch(() => {})));
    await env.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  try {
    const source = env.state.clusters.source!;
    const dest = env.state.clusters.destination!;
    const { kubectl } = await resolveBinaries(['kubectl']);

    // One storage agent per cluster, sharing one CA.
    const source0 = await startAgent({ dir: path.join(args.dir, 'agents', 'source'), name: 'source' });
    agents.push(source0);
    const dest0 = await startAgent({
      dir: path.join(args.dir, 'agents', 'destination'),
      name: 'destination',
      ca: source0.ca ?? undefined,
    });
    agents.push(dest0);
    say(`agents: source ${source0.url}, destination ${dest0.url}`);

    // The sample app, its data on the source agent's volume, and a PV that names it.
    await writeSampleData(source0);
    const sample = path.join(repoRoot(), 'deploy', 'samples', 'mysql.yaml');
    const applied = await applyFile(source.kubeconfigPath, sample);
    const pvFile = path.join(args.dir, 'sample-pv.json');
    await writeFile(pvFile, JSON.stringify(samplePv(source0.volumePath(SAMPLE_VOLUME))));
    applied.push(...(await applyFile(source.kubeconfigPath, pvFile)));
    say(`sample app on source: ${applied.join(', ')}`);
    if (args.nodes) {
      // The PostgreSQL sample, its hostPath PV under this environment's own directory.
      const text = await readFile(path.join(repoRoot(), 'deploy', 'samples', 'postgres.yaml'), 'utf8');
      const file = path.join(args.dir, 'postgres-sample.yaml');
      await writeFile(
        file,
        text.replaceAll('/var/lib/ferry/volumes', path.join(args.dir, 'volumes', 'source')),
      );
      say(`postgres sample on source: ${(await applyFile(source.kubeconfigPath, file)).join(', ')}`);
    }

    const workerLogDir = path.join(args.dir, 'worker');
    const worker = await startWorker({
      dir: workerLogDir,
      temporal: env.state.temporal,
      kubeconfigPath: source.kubeconfigPath,
      agent: { url: source0.url, tokenFile: source0.tokenFile, caCertPath: source0.caCertPath },
    });
    workers.push(worker);
    say(
      `worker on task queue ${worker.taskQueue} (log ${worker.logPath}, metrics http://${worker.http}/metrics)`,
    );

    // A ClusterPair to the destination, then one Migration through the workflow.
    const kc = new KubeConfig();
    kc.loadFromFile(dest.kubeconfigPath);
    const destUrl = new URL(dest0.url);
    const pair = clusterPairManifest('remote', 'mysql', kc, {
      ip: destUrl.hostname,
      port: destUrl.port,
      token: dest0.token,
      caCertPem: dest0.caCertPem,
      mode: DISASTER_RECOVERY_MODE,
    });
    const migration = {
      apiVersion: GROUP_VERSION,
      kind: 'Migration',
      metadata: { name: 'mysql-first', namespace: 'mysql' },
      spec: { clusterPair: 'remote', namespaces: ['mysql'] },
    };
    const drFile = path.join(args.dir, 'sample-dr.json');
    await writeFile(drFile, [pair, migration].map((o) => JSON.stringify(o)).join('\n---\n'), {
      mode: 0o600,
    });
    await applyFile(source.kubeconfigPath, drFile);
    say('applied ClusterPair mysql/remote and Migration mysql/mysql-first; waiting for it');
    const outcome = await waitForMigration(source.kubeconfigPath, 'mysql', 'mysql-first', say);

    const state = {
      ...env.state,
      taskQueue: worker.taskQueue,
      worker: { pid: worker.pid, logPath: worker.logPath, metrics: `http://${worker.http}/metrics` },
      clusters: Object.fromEntries(
        Object.entries(env.state.clusters).map(([name, c]) => {
          const a = name === 'source' ? source0 : dest0;
          const agent = {
            url: a.url,
            tokenFile: a.tokenFile,
            caFile: a.caCertPath,
            volumeRoot: path.join(a.dataRoot, 'volumes'),
            logPath: a.logPath,
          };
          return [name, { ...c, agent }];
        }),
      ),
    };
    await writeFile(path.join(args.dir, STATE_FILE), JSON.stringify(state, null, 2), { mode: 0o600 });

    const k = (c: { kubeconfigPath: string }) => `${kubectl} --kubeconfig ${c.kubeconfigPath}`;
    const lines = [
      '',
      `Ferry's local environment is up (${((Date.now() - t0) / 1000).toFixed(1)} s). State: ${path.join(args.dir, STATE_FILE)}`,
      '',
      `  Temporal      ${env.state.temporal.address}  (namespace ${env.state.temporal.namespace}, task queue ${worker.taskQueue})`,
      `  Web UI        ${env.state.temporal.uiUrl}`,
      `  source        ${source.server}  kubeconfig ${source.kubeconfigPath}`,
      `  destination   ${dest.server}  kubeconfig ${dest.kubeconfigPath}`,
      ...Object.entries(env.state.clusters).flatMap(([name, c]) =>
        c.node ? [`  node          ${c.node.name} (${name}): ${c.node.ip}, pods ${c.node.podSubnet}`] : [],
      ),
      `  kubectl       ${kubectl}`,
      `  agents        source ${source0.url}, destination ${dest0.url}`,
      `  worker        pid ${worker.pid}, log ${worker.logPath}, metrics http://${worker.http}/metrics`,
      `  migration     mysql/mysql-first ${outcome}`,
      `  standby       ${dest0.standbyPath(SAMPLE_VOLUME)}`,
      '',
      'Try:',
      `  ${k(source)} get migrations -n mysql`,
      `  ${k(source)} describe migration -n mysql mysql-first`,
      `  ${k(dest)} get deploy,pvc,pv,svc -n mysql          # the app on the standby, scaled to 0`,
      ...(args.nodes ? [`  ${k(source)} get nodes,pods -A -o wide`] : []),
      `  ${env.state.bins.temporal} workflow list --address ${env.state.temporal.address}`,
      `  ${env.state.bins.temporal} workflow query --address ${env.state.temporal.address} -w migration/mysql/mysql-first --name status`,
      '',
      'Migrate again after a change: apply another Migration (a new name) to the source, e.g.',
      `  ${k(source)} apply -f - <<< '{"apiVersion":"${GROUP_VERSION}","kind":"Migration","metadata":{"name":"mysql-2","namespace":"mysql"},"spec":{"clusterPair":"remote","namespaces":["mysql"]}}'`,
      '',
      'Not yet: MigrationSchedules do not run (their workflow is the next piece), and there is no',
      'activate (failover) command, so the app waits on the standby scaled to 0.',
      '',
    ];
    process.stdout.write(lines.join('\n') + '\n');
    if (!existsSync(source.kubeconfigPath) || !existsSync(dest.kubeconfigPath))
      throw new Error('kubeconfigs missing');
    if (args.exit) return await stop(0);
    say('running; press Ctrl-C to stop everything');
    // Watch the servers: one that dies is reported with its log, and everything stops.
    const processes = [
      env.temporal.process,
      ...env.clusters.flatMap((c) => [
        c.etcd,
        c.apiserver,
        ...(c.controlPlane ? [c.controlPlane.controllerManager, c.controlPlane.scheduler] : []),
        ...(c.node ? [c.node.containerd, c.node.kubelet] : []),
      ]),
    ];
    for (const a of [...agents, ...workers]) {
      void a.exited.then(() => {
        if (stopping) return;
        say(`agent ${a.name} exited unexpectedly; its log: ${a.logPath}\n${tailLog(a.logPath)}`);
        void stop(1);
      });
    }
    setInterval(() => {
      const dead = processes.find((p) => !p.running());
      if (!dead || stopping) return;
      say(`${dead.name} exited unexpectedly; its log: ${dead.logPath}\n${tailLog(dead.logPath)}`);
      void stop(1);
    }, 2000);
  } catch (err) {
    say(`failed: ${err instanceof Error ? err.message : String(err)}`);
    await stop(1);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`[up] ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

const SAMPLE_VOLUME = 'mysql-data';

/** The sample database's files, in the source agent's `mysql-data` volume. */
async function writeSampleData(source: AgentHandle): Promise<void> {
  const client = source.client();
  try {
    await client.createVolume(SAMPLE_VOLUME);
  } finally {
    client.close();
  }
  const dir = source.volumePath(SAMPLE_VOLUME);
  await mkdir(path.join(dir, 'mysql'), { recursive: true });
  const page = Buffer.alloc(16 * 1024);
  const data = Buffer.alloc(8 * 1024 * 1024);
  for (let off = 0; off < data.length; off += page.length) {
    page.fill(off / page.length);
    page.copy(data, off);
  }
  await writeFile(path.join(dir, 'ibdata1'), data);
  await writeFile(path.join(dir, 'mysql', 'users.ibd'), 'id,name\n1,ferry\n');
}

/** A hostPath PV on the agent's volume, pre-bound to the sample's claim (no provisioner runs). */
function samplePv(volumePath: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: 'pv-mysql-data', labels: { 'app.kubernetes.io/part-of': 'ferry-sample' } },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Delete',
      hostPath: { path: volumePath, type: 'Directory' },
      claimRef: { namespace: 'mysql', name: 'mysql-data' },
    },
  };
}

/** Polls the Migration until it ends, printing each stage change; returns a one-line outcome. */
async function waitForMigration(
  kubeconfigPath: string,
  namespace: string,
  name: string,
  say: (line: string) => void,
): Promise<string> {
  const kube = KubeClient.fromString(await readFile(kubeconfigPath, 'utf8'));
  const url = `/apis/${GROUP_VERSION}/namespaces/${namespace}/migrations/${name}`;
  const t0 = Date.now();
  let last = '';
  while (Date.now() - t0 < 120_000) {
    const cr = (await kube.request('GET', url)) as { status?: MigrationStatus };
    const s = cr.status;
    const now = `${s?.stage || '-'} ${s?.status || 'Pending'}`;
    if (now !== last) say(`migration ${namespace}/${name}: ${now}`);
    last = now;
    if (s && ['Successful', 'PartialSuccess', 'Failed'].includes(s.status ?? '')) {
      const v = s.summary;
      const outcome = `${s.status} in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${v?.numOfMigratedVolumes}/${v?.totalNumberOfVolumes} volumes (${((v?.totalBytesMigrated ?? 0) / 1048576).toFixed(1)} MiB), ${v?.numOfMigratedResources}/${v?.totalNumberOfResources} resources`;
      if (s.status !== 'Successful')
        throw new Error(`migration ${namespace}/${name} ${outcome}: ${s.reason ?? ''}`);
      return outcome;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`migration ${namespace}/${name} did not finish within 120 s (last: ${last})`);
}
