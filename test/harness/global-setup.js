// Jest global setup of the `integration` project: starts Ferry's local environment once per run
// (a Temporal dev server and two clusters with a node each, all real) and bundles the workflow code once, then
// hands both to the tests through <env dir>/harness.json (see context.ts). The servers die with
// this process even if jest is killed (localenv/reaper.ts); logs stay in the env dir.
//
// Plain ESM over dist/: jest loads global setup through a CommonJS require hook that cannot resolve
// the `.js` specifiers of our TypeScript, so this runs the built code, which `npm test` builds first.
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = (p) => {
  const file = path.join(root, 'dist', p);
  if (!existsSync(file)) throw new Error(`${file} is missing: build first (npm test does: npm run build)`);
  return import(file);
};

export default async function globalSetup() {
  const { startEnvironment, cleanupStaleNodes } = await dist('localenv/environment.js');
  const { resolveBinaries } = await dist('localenv/binaries.js');
  const { bundleWorkflows } = await dist('workers/workflow-bundle.js');

  const dir = process.env.FERRY_TEST_ENV_DIR ?? path.join(root, '.ferry', 'test-env');
  // A previous run's nodes may have left mounts under dir if that run and its reaper were killed.
  await cleanupStaleNodes(dir);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  process.env.FERRY_TEST_ENV_DIR = dir;
  const say = (line) => void process.stderr.write(`[harness] ${line}\n`);
  say(`starting the local environment in ${dir}`);
  const t0 = Date.now();
  // Both clusters run their control plane and one node each (containerd + kubelet), so tests can
  // run pods; FERRY_TEST_NODES=0 leaves the nodes out (test/integration/node.test.ts then skips).
  const nodes = process.env.FERRY_TEST_NODES !== '0';
  const env = await startEnvironment({
    dir,
    clusters: ['source', 'destination'],
    crds: true,
    // The Web UI too: test/integration/web-ui.test.ts screenshots a migration in it.
    ui: true,
    controlPlane: true,
    nodes,
    // PostgreSQL's image for deploy/samples/postgres.yaml (test/integration/postgres-sample.test.ts).
    ...(nodes ? { nodeImages: ['postgres'] } : {}),
    log: say,
  });
  globalThis.__ferryEnvironment = env;
  const stopOnSignal = (signal) => {
    say(`${signal}: stopping servers`);
    void env.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);

  const t1 = Date.now();
  const bundle = await bundleWorkflows(path.join(root, 'test', 'fixtures', 'workflows.ts'));
  const workflowBundlePath = path.join(dir, 'workflow-bundle.js');
  await writeFile(workflowBundlePath, bundle.code);
  say(
    `bundled workflows (${(bundle.code.length / 1024).toFixed(0)} KiB) once in ${((Date.now() - t1) / 1000).toFixed(1)} s`,
  );

  const { 'temporal-test-server': testServerBin } = await resolveBinaries(['temporal-test-server']);
  const context = { env: env.state, workflowBundlePath, testServerBin };
  await writeFile(path.join(dir, 'harness.json'), JSON.stringify(context, null, 2));
  say(`environment ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
