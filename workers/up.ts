#!/usr/bin/env node
// `npm run up`: Ferry's embedded default, on one machine, with real servers only: a Temporal dev
// server with its Web UI, two clusters ("source" and "destination", each a real etcd and
// kube-apiserver), Ferry's CRDs in both, one storage agent per cluster, and the sample app on the
// source, whose volume is replicated once to the destination's agent. It prints where everything
// is and runs until Ctrl-C, then stops every server it started.
//
//   npm run up [-- --dir DIR] [--exit] [--nodes]
//
// --exit stops right after everything is up and checked (CI uses it to keep this command true).
// --nodes gives each cluster a node (containerd + kubelet; root and Debian's containerd, runc,
// containernetworking-plugins, busybox-static and postgresql-15 needed) and runs the PostgreSQL
// StatefulSet sample (deploy/samples/postgres.yaml) on the source, its data under DIR/volumes.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { startAgent, type AgentHandle } from '../localenv/agents.js';
import { applyFile } from '../localenv/apply.js';
import { resolveBinaries } from '../localenv/binaries.js';
import { startEnvironment } from '../localenv/environment.js';
import { repoRoot } from '../localenv/paths.js';
import { portIsFree } from '../localenv/ports.js';
import { tailLog } from '../localenv/process.js';

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
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say('stopping every server');
    await Promise.all(agents.map((a) => a.stop().catch(() => {})));
    await env.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  try {
    const source = env.state.clusters.source!;
    const sample = path.join(repoRoot(), 'deploy', 'samples', 'mysql.yaml');
    const applied = await applyFile(source.kubeconfigPath, sample);
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
    const { kubectl } = await resolveBinaries(['kubectl']);

    // One storage agent per cluster, sharing one CA, then the sample volume's first replication.
    const source0 = await startAgent({ dir: path.join(args.dir, 'agents', 'source'), name: 'source' });
    agents.push(source0);
    const dest0 = await startAgent({
      dir: path.join(args.dir, 'agents', 'destination'),
      name: 'destination',
      ca: source0.ca ?? undefined,
    });
    agents.push(dest0);
    say(`agents: source ${source0.url}, destination ${dest0.url}`);
    const replicated = await replicateSample(source0, dest0, say);

    const dest = env.state.clusters.destination!;
    const lines = [
      '',
      `Ferry's local environment is up (${((Date.now() - t0) / 1000).toFixed(1)} s). State: ${path.join(args.dir, 'state.json')}`,
      '',
      `  Temporal      ${env.state.temporal.address}  (namespace ${env.state.temporal.namespace})`,
      `  Web UI        ${env.state.temporal.uiUrl}`,
      `  source        ${source.server}  kubeconfig ${source.kubeconfigPath}`,
      `  destination   ${dest.server}  kubeconfig ${dest.kubeconfigPath}`,
      ...Object.entries(env.state.clusters).flatMap(([name, c]) =>
        c.node ? [`  node          ${c.node.name} (${name}): ${c.node.ip}, pods ${c.node.podSubnet}`] : [],
      ),
      `  kubectl       ${kubectl}`,
      `  agents        source ${source0.url} (data ${source0.dataUrl}), destination ${dest0.url}`,
      `  standby       ${replicated.standby}  (volume mysql-data, ${replicated.summary})`,
      '',
      'Try:',
      `  ${kubectl} --kubeconfig ${source.kubeconfigPath} get deploy,pvc,svc -n mysql`,
      `  ${kubectl} --kubeconfig ${source.kubeconfigPath} get crd`,
      ...(args.nodes ? [`  ${kubectl} --kubeconfig ${source.kubeconfigPath} get nodes,pods -A -o wide`] : []),
      `  ${env.state.bins.temporal} workflow list --address ${env.state.temporal.address}`,
      '',
      'What runs today: the servers above, the CRDs, the sample app, and its volume replicated once',
      "by the agents. Ferry's worker (the MigrationSchedule and Migration workflows) is not built",
      'yet, so nothing replicates on a schedule yet.',
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
    for (const a of agents) {
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

/**
 * Writes the sample app's data into the source agent's `mysql-data` volume and replicates it to
 * the destination agent, as a Migration's volume stage will.
 */
async function replicateSample(
  source: AgentHandle,
  dest: AgentHandle,
  say: (line: string) => void,
): Promise<{ standby: string; summary: string }> {
  const client = source.client();
  try {
    await client.createVolume('mysql-data');
    const dir = source.volumePath('mysql-data');
    await mkdir(path.join(dir, 'mysql'), { recursive: true });
    const page = Buffer.alloc(16 * 1024);
    const data = Buffer.alloc(8 * 1024 * 1024);
    for (let off = 0; off < data.length; off += page.length) {
      page.fill(off / page.length);
      page.copy(data, off);
    }
    await writeFile(path.join(dir, 'ibdata1'), data);
    await writeFile(path.join(dir, 'mysql', 'users.ibd'), 'id,name\n1,ferry\n');
    const t0 = Date.now();
    const status = await client.replicate({
      volume: 'mysql-data',
      destination: { url: dest.url, token: dest.token, caCertPem: dest.caCertPem },
      mode: 'DisasterRecovery',
    });
    const summary = `${(status.bytesTotal / 1048576).toFixed(1)} MiB, ${status.chunksSent} chunks sent in ${((Date.now() - t0) / 1000).toFixed(1)} s`;
    say(`replicated volume mysql-data: ${summary}`);
    return { standby: dest.standbyPath('mysql-data'), summary };
  } finally {
    client.close();
  }
}
