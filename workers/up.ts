#!/usr/bin/env node
// `npm run up`: Ferry's embedded default, on one machine, with real servers only: a Temporal dev
// server with its Web UI, two clusters ("source" and "destination", each a real etcd and
// kube-apiserver), Ferry's CRDs in both, one storage agent per cluster, Ferry's worker protecting
// the source, and the sample app on the source with its volume on the source agent. It applies the
// seed's objects adapted to the sample (a ClusterPair, the SchedulePolicy, a MigrationSchedule), so
// the app and its data arrive on the standby at once and then every minute, waits for the first
// migration, prints where everything is and a line per later migration until Ctrl-C, then stops
// every server it started. <dir>/state.json (written once everything is ready) tells scripts where things are.
//
//   npm run up [-- --dir DIR] [--exit] [--nodes] [--temporal dev|postgres]
//
// --exit stops right after everything is up and checked (CI uses it to keep this command true).
// --nodes gives each cluster a node (containerd + kubelet; root and Debian's containerd, runc,
// containernetworking-plugins, busybox-static and postgresql-15 needed) and runs the PostgreSQL
// StatefulSet sample (deploy/samples/postgres.yaml) on the source, its data under DIR/volumes.
// --temporal postgres runs Temporal Server on a private PostgreSQL 15 cluster instead of the dev
// server (production-shaped; no Web UI; see localenv/temporal-postgres.ts).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import { DISASTER_RECOVERY_MODE } from '../api/index.js';
import type { AgentHandle } from '../localenv/agents.js';
import { applyFile } from '../localenv/apply.js';
import { STATE_FILE } from '../localenv/environment.js';
import { repoRoot } from '../localenv/paths.js';
import { freePorts, portIsFree } from '../localenv/ports.js';
import { codecKeysFromEnv } from '../client/payload-codec.js';
import { startCodecServer } from './codec-server.js';
import { checkNodePrerequisites } from '../localenv/nodehost.js';
import { tailLog } from '../localenv/process.js';
import { applyPostgresSample, postgresOn, SAMPLE_NAMESPACE, SAMPLE_VOLUME } from '../localenv/postgres.js';
import { migrationOutcome, scheduleItems, startDrPair, type DrPair } from '../localenv/dr-pair.js';
import { SEED_POLICY, seedSchedule } from '../localenv/seed.js';

interface UpArgs {
  dir: string;
  exit: boolean;
  /** undefined: nodes when this machine can run them (root, containerd, runc, CNI plugins). */
  nodes?: boolean;
  temporal: 'dev' | 'postgres';
}

function parseArgs(argv: string[]): UpArgs {
  const args: UpArgs = { dir: path.join(repoRoot(), '.ferry', 'up'), exit: false, temporal: 'dev' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--exit') args.exit = true;
    else if (a === '--nodes') args.nodes = true;
    else if (a === '--no-nodes') args.nodes = false;
    else if (a === '--dir' && argv[i + 1]) args.dir = path.resolve(argv[++i]!);
    else if (a === '--temporal') {
      const v = argv[++i];
      if (v !== 'dev' && v !== 'postgres')
        throw new Error(`--temporal: expected dev or postgres, got '${v ?? ''}'`);
      args.temporal = v;
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'usage: npm run up [-- --dir DIR] [--exit] [--nodes | --no-nodes] [--temporal dev|postgres]\n',
      );
      process.exit(0);
    } else
      throw new Error(
        `unknown argument '${a}' (expected --dir DIR, --exit, --nodes, --no-nodes or --temporal dev|postgres)`,
      );
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const say = (line: string): void => void process.stderr.write(`[up] ${line}\n`);
  const t0 = Date.now();
  if (args.nodes === undefined) {
    const missing = await checkNodePrerequisites().then(
      () => '',
      (err: Error) => err.message,
    );
    args.nodes = missing === '';
    if (!args.nodes) say(`no nodes (pods will not run): ${missing.split('\n')[0]}; --no-nodes hides this`);
  }
  say(`starting Ferry's local environment in ${args.dir} (first run builds the servers: minutes)`);
  // Temporal's well-known ports when free, so localhost:8233 is the UI as users expect.
  const wellKnown = (await portIsFree(7233)) && (await portIsFree(8233));
  // With payload encryption on (FERRY_CODEC_KEYS_FILE), a codec server lets the Web UI show payloads.
  const codecKeys = await codecKeysFromEnv();
  const [port, uiPort] = wellKnown ? [7233, 8233] : codecKeys ? await freePorts(2) : [];
  const codec = codecKeys
    ? await startCodecServer({
        keys: codecKeys,
        port: 0,
        origins: [`http://127.0.0.1:${uiPort}`, `http://localhost:${uiPort}`],
      })
    : undefined;
  if (codec)
    say(`payload codec on (key id ${codecKeys?.[0]?.id}); codec server for the Web UI at ${codec.url}`);
  const pair = await startDrPair({
    dir: args.dir,
    ui: true,
    temporal: args.temporal,
    nodes: args.nodes,
    ...(args.nodes ? { nodeImages: ['postgres' as const] } : {}),
    log: say,
    ...(port && uiPort ? { temporalPorts: { port, uiPort } } : {}),
    ...(codec ? { uiCodecEndpoint: codec.url } : {}),
  });
  const env = pair.env;
  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say('stopping every server');
    await pair.stop();
    await codec?.close();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  try {
    const source = env.state.clusters.source!;
    const dest = env.state.clusters.destination!;
    const kubectl = pair.kubectl;
    const { source: source0, destination: dest0 } = pair.agents;
    say(`agents: source ${source0.url}, destination ${dest0.url}`);

    // The sample app on the source, its volume one of the source agent's.
    const sample = args.nodes
      ? await postgresSample(source0, source.kubeconfigPath, args.dir, kubectl, say)
      : await mysqlSample(source0, source.kubeconfigPath, args.dir, say);
    const { namespace: ns, volume: sampleVolume } = sample;

    const worker = await pair.startWorker('source');
    say(
      `worker on task queue ${worker.taskQueue} (log ${worker.logPath}, metrics http://${worker.http}/metrics)`,
    );

    // The seed's objects, adapted: a ClusterPair to the destination, its SchedulePolicy and a
    // MigrationSchedule whose interval migrations start at once and then every minute.
    const schedule = seedSchedule(ns, sample.migration);
    const scheduleName = (schedule['metadata'] as { name: string }).name;
    const drFile = path.join(args.dir, 'sample-dr.json');
    const objects = [pair.clusterPair('source', 'remote', ns, DISASTER_RECOVERY_MODE), SEED_POLICY, schedule];
    await writeFile(drFile, objects.map((o) => JSON.stringify(o)).join('\n---\n'), { mode: 0o600 });
    // Kubernetes timestamps have whole seconds: a migration started by this apply is created at or
    // after the second it began. Migrations of an earlier `up` in this directory are older.
    const appliedAt = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
    await applyFile(source.kubeconfigPath, drFile);
    say(
      `applied ClusterPair ${ns}/remote, SchedulePolicy testpolicy, MigrationSchedule ${ns}/${scheduleName}`,
    );
    const t1 = Date.now();
    const first = await firstScheduledMigration(pair, ns, scheduleName, appliedAt);
    const status = await pair.waitForMigration('source', ns, first, { say });
    const outcome = migrationOutcome(status, Date.now() - t1);
    if (status.status !== 'Successful')
      throw new Error(`migration ${ns}/${first} ${outcome}: ${status.reason ?? ''}`);

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
      env.state.temporal.postgres
        ? `  PostgreSQL    127.0.0.1:${env.state.temporal.postgres.port} (Temporal's store; log ${env.state.temporal.postgres.logPath})`
        : `  Web UI        ${env.state.temporal.uiUrl}`,
      `  source        ${source.server}  kubeconfig ${source.kubeconfigPath}`,
      `  destination   ${dest.server}  kubeconfig ${dest.kubeconfigPath}`,
      ...Object.entries(env.state.clusters).flatMap(([name, c]) =>
        c.node ? [`  node          ${c.node.name} (${name}): ${c.node.ip}, pods ${c.node.podSubnet}`] : [],
      ),
      `  kubectl       ${kubectl}`,
      `  agents        source ${source0.url}, destination ${dest0.url}`,
      `  worker        pid ${worker.pid}, log ${worker.logPath}, metrics http://${worker.http}/metrics`,
      `  sample        ${sample.describe}`,
      `  schedule      ${ns}/${scheduleName} (SchedulePolicy testpolicy: every minute; autoSuspend)`,
      `  migration     ${ns}/${first} ${outcome}`,
      `  standby       ${dest0.standbyPath(sampleVolume)}`,
      '',
      'Try:',
      `  ${k(source)} get migrations -n ${ns}             # a new one every minute`,
      `  ${k(source)} describe migrationschedule -n ${ns} ${scheduleName}`,
      `  ${k(source)} describe migration -n ${ns} ${first}`,
      `  ${k(dest)} get all,pvc,pv -n ${ns}          # the app on the standby, scaled to 0`,
      ...(args.nodes
        ? [
            `  ${k(source)} get nodes,pods -A -o wide`,
            `  ${k(source)} -n ${ns} exec postgres-0 -c postgres -- psql -h /tmp -U postgres -c 'SELECT count(*) FROM orders'`,
          ]
        : []),
      `  ${env.state.bins.temporal} workflow list --address ${env.state.temporal.address}`,
      `  ${env.state.bins.temporal} workflow query --address ${env.state.temporal.address} -w migrationschedule/${ns}/${scheduleName} --name status`,
      '',
      'Fail over by hand (the standby takes over: its volume promoted, the app scaled up); with',
      'autoSuspend the schedule then suspends itself, so the two sides never both write:',
      `  npm run --silent storkctl -- activate migrations -n ${ns} --kubeconfig ${dest.kubeconfigPath} \\`,
      `      --agent-url ${dest0.url} --agent-token-file ${dest0.tokenFile} --agent-ca-file ${dest0.caCertPath}`,
      ...(args.nodes
        ? [
            `  ${k(dest)} -n ${ns} exec postgres-0 -c postgres -- psql -h /tmp -U postgres -c 'SELECT count(*) FROM orders'`,
          ]
        : []),
      '',
      'Or the whole drill unattended, in an environment of its own (fail over, write, fail back):',
      '  npm run drill',
      '',
    ];
    process.stdout.write(lines.join('\n') + '\n');
    if (!existsSync(source.kubeconfigPath) || !existsSync(dest.kubeconfigPath))
      throw new Error('kubeconfigs missing');
    if (args.exit) return await stop(0);
    say('running; press Ctrl-C to stop everything. Each scheduled migration is reported here:');
    void reportMigrations(pair, ns, scheduleName, appliedAt, first, () => stopping, say);
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
    for (const a of [...Object.values(pair.agents), ...Object.values(pair.workers)]) {
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

interface Sample {
  namespace: string;
  volume: string;
  /** Migration spec fields beyond clusterPair and namespaces. */
  migration: Record<string, unknown>;
  describe: string;
}

/**
 * PostgreSQL on the source's node (deploy/samples/postgres.yaml): its PV a volume of the source
 * agent, a writer inserting a row a second, and the Rule that checkpoints it before a snapshot.
 */
async function postgresSample(
  agent: AgentHandle,
  kubeconfig: string,
  dir: string,
  kubectl: string,
  say: (line: string) => void,
): Promise<Sample> {
  const client = agent.client();
  try {
    await client.createVolume(SAMPLE_VOLUME);
  } finally {
    client.close();
  }
  const applied = await applyPostgresSample({
    kubeconfig,
    dir,
    volumeRoot: path.join(agent.dataRoot, 'volumes'),
  });
  say(`sample on source: ${applied.join(', ')}`);
  const pg = postgresOn(kubectl, kubeconfig, SAMPLE_NAMESPACE);
  const t0 = Date.now();
  const count = await pg.orders(3);
  say(
    `PostgreSQL runs on the source's node and takes writes: ${count} rows in orders after ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  return {
    namespace: SAMPLE_NAMESPACE,
    volume: SAMPLE_VOLUME,
    migration: { preExecRule: 'postgres-checkpoint' },
    describe: `PostgreSQL StatefulSet postgres/postgres-0 with a writer (${count} rows when migrated)`,
  };
}

/** Without nodes: the mysql sample's objects, and a volume of files standing in for its data. */
async function mysqlSample(
  agent: AgentHandle,
  kubeconfig: string,
  dir: string,
  say: (line: string) => void,
): Promise<Sample> {
  const volume = 'mysql-data';
  const client = agent.client();
  try {
    await client.createVolume(volume);
  } finally {
    client.close();
  }
  const data = agent.volumePath(volume);
  await mkdir(path.join(data, 'mysql'), { recursive: true });
  const page = Buffer.alloc(16 * 1024);
  const bytes = Buffer.alloc(8 * 1024 * 1024);
  for (let off = 0; off < bytes.length; off += page.length) {
    page.fill(off / page.length);
    page.copy(bytes, off);
  }
  await writeFile(path.join(data, 'ibdata1'), bytes);
  await writeFile(path.join(data, 'mysql', 'users.ibd'), 'id,name\n1,ferry\n');
  const applied = await applyFile(kubeconfig, path.join(repoRoot(), 'deploy', 'samples', 'mysql.yaml'));
  // A hostPath PV on the agent's volume, pre-bound to the sample's claim.
  const pv = {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: 'pv-mysql-data', labels: { 'app.kubernetes.io/part-of': 'ferry-sample' } },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Delete',
      hostPath: { path: data, type: 'Directory' },
      claimRef: { namespace: 'mysql', name: 'mysql-data' },
    },
  };
  const pvFile = path.join(dir, 'sample-pv.json');
  await writeFile(pvFile, JSON.stringify(pv));
  applied.push(...(await applyFile(kubeconfig, pvFile)));
  say(`sample on source (no nodes: stored, not run): ${applied.join(', ')}`);
  return {
    namespace: 'mysql',
    volume,
    migration: {},
    describe: 'mysql objects and 8 MiB of files (no nodes: not running)',
  };
}

/** Whether a schedule's status item was created at or after `since` (an ISO time). */
const createdSince = (item: { creationTimestamp?: string }, since: string): boolean =>
  Date.parse(item.creationTimestamp ?? '') >= Date.parse(since);

/**
 * The name of the schedule's first migration created at or after `since`, once its status lists
 * one: a directory kept from an earlier `up` still lists that run's migrations.
 */
async function firstScheduledMigration(
  pair: DrPair,
  ns: string,
  schedule: string,
  since: string,
): Promise<string> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const items = await scheduleItems(pair, 'source', ns, schedule);
    const first = items.find((i) => createdSince(i, since));
    if (first) return first.name;
    if (Date.now() > deadline)
      throw new Error(`MigrationSchedule ${ns}/${schedule} started no migration within 90 s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * The live summary while `up` runs: one line per finished migration of the schedule, with how
 * long it took, the RPO it leaves (the age of the data now on the standby) and its page in the
 * Temporal Web UI.
 */
async function reportMigrations(
  pair: DrPair,
  ns: string,
  schedule: string,
  since: string,
  firstReported: string,
  stopped: () => boolean,
  say: (line: string) => void,
): Promise<void> {
  const seen = new Set([firstReported]);
  while (!stopped()) {
    await new Promise((r) => setTimeout(r, 5000));
    for (const m of await scheduleItems(pair, 'source', ns, schedule).catch(() => [])) {
      if (seen.has(m.name) || !m.finishTimestamp || !createdSince(m, since)) continue;
      seen.add(m.name);
      const took =
        (Date.parse(m.finishTimestamp) - Date.parse(m.creationTimestamp ?? m.finishTimestamp)) / 1000;
      const rpo = (Date.now() - Date.parse(m.creationTimestamp ?? m.finishTimestamp)) / 1000;
      const t = pair.env.state.temporal;
      const ui = t.uiUrl
        ? ` ${t.uiUrl}/namespaces/${t.namespace}/workflows/${encodeURIComponent(`migration/${ns}/${m.name}`)}`
        : '';
      say(
        `${m.name} ${m.status} in ${took.toFixed(1)} s; the standby's data is ${rpo.toFixed(0)} s old;${ui}`,
      );
    }
  }
}
