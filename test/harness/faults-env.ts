// The environment a fault test file starts for itself (jest project `faults`): real Temporal
// (the dev server, or Temporal Server on PostgreSQL), two API-only clusters with the CRDs, and the
// workflow bundle every worker of the file loads. Lines go to stderr prefixed `[faults]`.
//
//   const f = await startFaultsEnvironment('edges', { temporal: 'dev' });
//   world = await startDrWorld('edges', { context: f.context });
//   ... await f.env.stop();
import { expect } from '@jest/globals';
import fs from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startEnvironment, type Environment } from '../../localenv/environment.js';
import { repoRoot } from '../../localenv/paths.js';
import { describeTree, prng } from '../agents/trees.js';
import { volumeAppYaml } from '../fixtures/apps/volume-app.js';
import type { HarnessContext } from './context.js';
import type { DrWorld } from './dr-world.js';
import { eventually } from './eventually.js';

export const MiB = 1024 * 1024;

export const say = (line: string): void => void process.stderr.write(`[faults] ${line}\n`);
export const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export interface FaultsEnvironment {
  dir: string;
  env: Environment;
  /** What startDrWorld needs to build on this environment. */
  context: HarnessContext;
}

export async function startFaultsEnvironment(
  name: string,
  opts: { temporal: 'dev' | 'postgres' },
): Promise<FaultsEnvironment> {
  const dir = path.join(repoRoot(), '.ferry', name);
  await rm(dir, { recursive: true, force: true });
  const env = await startEnvironment({
    dir,
    clusters: ['source', 'destination'],
    crds: true,
    controlPlane: false,
    temporal: opts.temporal,
    log: say,
  });
  // One workflow bundle for every worker of the file, as the integration harness does.
  const t = Date.now();
  const { bundleWorkflows } = (await import(
    path.join(repoRoot(), 'dist', 'workers', 'workflow-bundle.js')
  )) as {
    bundleWorkflows: (p: string) => Promise<{ code: string }>;
  };
  const workflowBundlePath = path.join(dir, 'workflow-bundle.js');
  await writeFile(
    workflowBundlePath,
    (await bundleWorkflows(path.join(repoRoot(), 'test', 'fixtures', 'workflows.ts'))).code,
  );
  say(`bundled workflows in ${secs(Date.now() - t)}`);
  return { dir, env, context: { env: env.state, workflowBundlePath, testServerBin: '' } };
}

/** An app with one volume of `files` × `fileMiB` MiB on the source agent, and its ClusterPair `remote`. */
export async function appWithVolume(
  world: DrWorld,
  ns: string,
  files: number,
  fileMiB: number,
): Promise<string> {
  const volume = `${ns}-data`;
  await world.agents.source.client().createVolume(volume);
  const vol = world.agents.source.volumePath(volume);
  for (let i = 0; i < files; i++)
    fs.writeFileSync(path.join(vol, `part-${i}.bin`), prng(fileMiB * MiB, `${ns}-${i}`));
  await world.kubectl('source', ['apply', '-f', '-'], volumeAppYaml(ns, { volumePath: vol, pv: `pv-${ns}` }));
  await world.kubectl('source', ['apply', '-f', '-'], await world.clusterPairYaml(ns, 'remote'));
  return volume;
}

/** The standby of `volume` holds the source volume's bytes, names and modes. */
export function expectSameBytes(world: DrWorld, volume: string): void {
  expect(describeTree(world.agents.destination.standbyPath(volume))).toEqual(
    describeTree(world.agents.source.volumePath(volume)),
  );
}

/** Resolves once the source agent sends `volume`, part of it sent and part still to go. */
export function midTransfer(world: DrWorld, volume: string) {
  return eventually(
    `a transfer of ${volume} in progress`,
    async () => {
      const client = world.agents.source.client();
      try {
        const r = (await client.listReplications()).find(
          (x) => x.volume === volume && x.phase === 'transferring' && x.bytesDone > 0,
        );
        return r && r.bytesDone < r.bytesTotal ? r : undefined;
      } finally {
        client.close();
      }
    },
    120_000,
    25,
  );
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

/** The Migrations MigrationSchedule `schedule` of `ns` made, oldest first (by name: their UTC stamps). */
export async function scheduledMigrations(world: DrWorld, ns: string, schedule: string): Promise<Obj[]> {
  const list = JSON.parse(
    await world.kubectl('source', [
      'get',
      'migrations',
      '-n',
      ns,
      '-l',
      `stork.libopenstorage.org/migration-schedule-name=${schedule}`,
      '-o',
      'json',
    ]),
  ) as { items: Array<{ metadata: { name: string } }> };
  return list.items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

export { everyMinuteScheduleYaml } from '../fixtures/apps/every-minute-schedule.js';
