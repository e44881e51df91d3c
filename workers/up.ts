#!/usr/bin/env node
// `npm run up`: Ferry's embedded default, on one machine, with real servers only: a Temporal dev
// server with its Web UI, two clusters ("source" and "destination", each a real etcd and
// kube-apiserver), Ferry's CRDs in both, and the sample app on the source. It prints where
// everything is and runs until Ctrl-C, then stops every server it started.
//
//   npm run up [-- --dir DIR] [--exit]
//
// --exit stops right after everything is up and checked (CI uses it to keep this command true).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { applyFile } from '../localenv/apply.js';
import { resolveBinaries } from '../localenv/binaries.js';
import { startEnvironment } from '../localenv/environment.js';
import { repoRoot } from '../localenv/paths.js';
import { portIsFree } from '../localenv/ports.js';
import { tailLog } from '../localenv/process.js';

interface UpArgs {
  dir: string;
  exit: boolean;
}

function parseArgs(argv: string[]): UpArgs {
  const args: UpArgs = { dir: path.join(repoRoot(), '.ferry', 'up'), exit: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--exit') args.exit = true;
    else if (a === '--dir' && argv[i + 1]) args.dir = path.resolve(argv[++i]!);
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: npm run up [-- --dir DIR] [--exit]\n');
      process.exit(0);
    } else throw new Error(`unknown argument '${a}' (expected --dir DIR or --exit)`);
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
    log: say,
    ...(wellKnown ? { temporalPorts: { port: 7233, uiPort: 8233 } } : {}),
  });
  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say('stopping every server');
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
    const { kubectl } = await resolveBinaries(['kubectl']);

    const dest = env.state.clusters.destination!;
    const lines = [
      '',
      `Ferry's local environment is up (${((Date.now() - t0) / 1000).toFixed(1)} s). State: ${path.join(args.dir, 'state.json')}`,
      '',
      `  Temporal      ${env.state.temporal.address}  (namespace ${env.state.temporal.namespace})`,
      `  Web UI        ${env.state.temporal.uiUrl}`,
      `  source        ${source.server}  kubeconfig ${source.kubeconfigPath}`,
      `  destination   ${dest.server}  kubeconfig ${dest.kubeconfigPath}`,
      `  kubectl       ${kubectl}`,
      '',
      'Try:',
      `  ${kubectl} --kubeconfig ${source.kubeconfigPath} get deploy,pvc,svc -n mysql`,
      `  ${kubectl} --kubeconfig ${source.kubeconfigPath} get crd`,
      `  ${env.state.bins.temporal} workflow list --address ${env.state.temporal.address}`,
      '',
      "What runs today: the servers above, the CRDs and the sample app. Ferry's worker (the",
      'MigrationSchedule and Migration workflows) is not built yet, so nothing replicates yet.',
      '',
    ];
    process.stdout.write(lines.join('\n') + '\n');
    if (!existsSync(source.kubeconfigPath) || !existsSync(dest.kubeconfigPath))
      throw new Error('kubeconfigs missing');
    if (args.exit) return await stop(0);
    say('running; press Ctrl-C to stop everything');
    // Watch the servers: one that dies is reported with its log, and everything stops.
    const processes = [env.temporal.process, ...env.clusters.flatMap((c) => [c.etcd, c.apiserver])];
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
