#!/usr/bin/env node
// `npm run drill`: the disaster-recovery drill, unattended, on an environment of its own (real
// Temporal, two clusters with nodes, agents, workers, the PostgreSQL sample), each step timed:
//
//   protect      ClusterPair + SchedulePolicy + MigrationSchedule (autoSuspend) on the source;
//                the first scheduled migration moves the app and its data to the standby
//   write        rows marked 'before-disaster' on the source, then a migration (triggerNow)
//   disaster     the source is lost: its worker, storage agent and kube-apiserver stop
//   failover     `storkctl activate migrations` on the standby; PostgreSQL answers there with
//                every 'before-disaster' row (the RPO is what the last migration had)
//   outage       rows marked 'during-outage' are written on the standby
//   return       the source's API server and agent come back; its schedule is suspended
//                (autoSuspend, or by the drill when the schedule did not) before its worker starts
//   failback     a worker for the standby and a ClusterPair back to the source; a first migration
//                while the app runs, `deactivate` on the standby, a final migration, `activate`
//                on the source: PostgreSQL answers there with the 'during-outage' rows, and a
//                second activate changes nothing (rerunning a step is safe)
//
//   npm run drill [-- --dir DIR] [--keep]
//
// Exits 0 when every check held, 1 otherwise. --keep leaves the environment running at the end.
import type { Client } from '@temporalio/client';
import { codecKeysFromEnv } from '../client/payload-codec.js';
import { connectTemporal } from '../client/temporal.js';
import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { DISASTER_RECOVERY_MODE, GROUP_VERSION } from '../api/index.js';
import {
  migrationOutcome,
  scheduleCr,
  scheduleItems,
  startDrPair,
  type DrPair,
  type Site,
} from '../localenv/dr-pair.js';
import { applyFile } from '../localenv/apply.js';
import { checkNodePrerequisites } from '../localenv/nodehost.js';
import { repoRoot } from '../localenv/paths.js';
import {
  applyPostgresSample,
  postgresOn,
  SAMPLE_NAMESPACE as NS,
  SAMPLE_VOLUME,
} from '../localenv/postgres.js';
import { SEED_POLICY, seedSchedule } from '../localenv/seed.js';

const run = promisify(execFile);

interface Step {
  name: string;
  ms: number;
  detail: string;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let dir = path.join(repoRoot(), '.ferry', 'drill');
  let keep = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--keep') keep = true;
    else if (argv[i] === '--dir' && argv[i + 1]) dir = path.resolve(argv[++i]!);
    else {
      process.stderr.write(`drill: unknown argument '${argv[i]}' (expected --dir DIR or --keep)\n`);
      return 1;
    }
  }
  const say = (line: string) => void process.stderr.write(`[drill] ${line}\n`);
  try {
    await checkNodePrerequisites();
  } catch (err) {
    say(`the drill runs PostgreSQL on real nodes, and this machine cannot: ${(err as Error).message}`);
    return 1;
  }
  await rm(dir, { recursive: true, force: true });
  say(`starting an environment of its own in ${dir}`);
  const tEnv = Date.now();
  const pair = await startDrPair({ dir, nodes: true, nodeImages: ['postgres'], log: () => {} });
  const steps: Step[] = [
    {
      name: 'environment',
      ms: Date.now() - tEnv,
      detail: 'Temporal, two clusters with a node each, two storage agents',
    },
  ];
  const step = async (name: string, fn: () => Promise<string>) => {
    say(`${name}…`);
    const t0 = Date.now();
    const detail = await fn();
    steps.push({ name, ms: Date.now() - t0, detail });
    say(`${name}: ${detail} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  };
  const { client: temporal, close: closeTemporal } = await connectTemporal({
    ...pair.env.state.temporal,
    codecKeys: await codecKeysFromEnv(),
  });
  let ok = false;
  try {
    await drill(pair, temporal, dir, step);
    ok = true;
  } catch (err) {
    say(`FAILED: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    process.stdout.write(report(steps, ok));
    await closeTemporal();
    if (keep) {
      say(`environment left running in ${dir} (state.json there); Ctrl-C stops it`);
      await new Promise<void>((resolve) => process.once('SIGINT', resolve));
    }
    await pair.stop();
  }
  return ok ? 0 : 1;
}

async function drill(
  pair: DrPair,
  temporal: Client,
  dir: string,
  step: (name: string, fn: () => Promise<string>) => Promise<void>,
): Promise<void> {
  const pg = (site: Site) => postgresOn(pair.kubectl, pair.kubeconfig(site), NS);
  const apply = async (site: Site, name: string, objects: unknown[]) => {
    const file = path.join(dir, `${name}.json`);
    await writeFile(file, objects.map((o) => JSON.stringify(o)).join('\n---\n'), { mode: 0o600 });
    await applyFile(pair.kubeconfig(site), file);
  };
  const storkctl = async (site: Site, verb: 'activate' | 'deactivate') => {
    const a = pair.agents[site];
    const { stdout } = await run(
      process.execPath,
      [
        path.join(repoRoot(), 'dist', 'workers', 'storkctl.js'),
        verb,
        'migrations',
        '-n',
        NS,
        '--kubeconfig',
        pair.kubeconfig(site),
        '--agent-url',
        a.url,
        '--agent-token-file',
        a.tokenFile,
        '--agent-ca-file',
        a.caCertPath,
      ],
      { timeout: 120_000 },
    );
    return stdout.trim().split('\n');
  };
  const migrate = async (site: Site, name: string, pairName: string) => {
    const t0 = Date.now();
    await apply(site, name, [
      {
        apiVersion: GROUP_VERSION,
        kind: 'Migration',
        metadata: { name, namespace: NS },
        spec: { clusterPair: pairName, namespaces: [NS], preExecRule: 'postgres-checkpoint' },
      },
    ]);
    const s = await pair.waitForMigration(site, NS, name);
    if (s.status !== 'Successful')
      throw new Error(`migration ${name} on ${site}: ${s.status}: ${s.reason ?? ''}`);
    return migrationOutcome(s, Date.now() - t0);
  };
  const schedule = seedSchedule(NS, { preExecRule: 'postgres-checkpoint' });
  const scheduleName = (schedule['metadata'] as { name: string }).name;
  const scheduleHandle = temporal.workflow.getHandle(`migrationschedule/${NS}/${scheduleName}`);
  const source = pair.agents.source;

  await step('sample', async () => {
    const client = source.client();
    await client.createVolume(SAMPLE_VOLUME).finally(() => client.close());
    await applyPostgresSample({
      kubeconfig: pair.kubeconfig('source'),
      dir,
      volumeRoot: path.join(source.dataRoot, 'volumes'),
    });
    return `PostgreSQL on the source takes writes: ${await pg('source').orders(3)} rows in orders`;
  });

  await step('protect', async () => {
    await pair.startWorker('source');
    await apply('source', 'protect', [
      pair.clusterPair('source', 'remote', NS, DISASTER_RECOVERY_MODE),
      SEED_POLICY,
      schedule,
    ]);
    const first = await waitFor('the first scheduled migration', 90_000, async () => {
      const items = await scheduleItems(pair, 'source', NS, scheduleName);
      return items.find((i) => i.status === 'Successful')?.name;
    });
    return `${first} Successful`;
  });

  let written = 0;
  let lastMigrationStart = NaN;
  await step('write', async () => {
    await pg('source').sql(
      "CREATE TABLE drill (id serial PRIMARY KEY, phase text); INSERT INTO drill (phase) SELECT 'before-disaster' FROM generate_series(1, 100)",
    );
    written = 100;
    const name = await waitFor('a triggered migration', 90_000, async () =>
      scheduleHandle.executeUpdate('triggerNow', { args: [{ type: 'interval' }] }).catch(() => undefined),
    );
    const s = await pair.waitForMigration('source', NS, name as string);
    if (s.status !== 'Successful')
      throw new Error(`migration ${String(name)}: ${s.status}: ${s.reason ?? ''}`);
    lastMigrationStart = Date.parse(
      (await scheduleItems(pair, 'source', NS, scheduleName)).find((i) => i.name === name)
        ?.creationTimestamp ?? '',
    );
    return `100 rows, then ${String(name)} ${migrationOutcome(s, 0).replace(/ in [\d.]+ s/, '')}`;
  });

  await step('disaster', async () => {
    await pair.workers.source?.stop();
    await source.stop();
    await pair.env.clusters.find((c) => c.name === 'source')!.stopApiserver();
    const rpo = ((Date.now() - lastMigrationStart) / 1000).toFixed(0);
    return `the source's worker, storage agent and kube-apiserver are down; the standby holds the source as of ${rpo} s before (RPO)`;
  });

  await step('failover', async () => {
    const lines = await storkctl('destination', 'activate');
    await pg('destination').ready();
    const n = Number(
      await pg('destination').sql("SELECT count(*) FROM drill WHERE phase = 'before-disaster'"),
    );
    if (n !== written)
      throw new Error(`the standby has ${n} of the ${written} rows written before the disaster`);
    return `${lines.length} changes (${lines.filter((l) => l.startsWith('Promoted')).length} volume promoted); PostgreSQL answers on the standby with all ${n} rows`;
  });

  await step('outage', async () => {
    await pg('destination').sql(
      "INSERT INTO drill (phase) SELECT 'during-outage' FROM generate_series(1, 50)",
    );
    return '50 rows written on the standby';
  });

  let suspendedBy = '';
  await step('return', async () => {
    await pair.env.clusters.find((c) => c.name === 'source')!.startApiserver();
    pair.agents.source = await source.restart();
    // The source's schedule must not push the old data over the activated standby: its
    // autoSuspend sees the apps running there (at its next due trigger, or its 5-minute poll)
    // and suspends it. The drill checks it does, and that no migration started meanwhile.
    const before = (await scheduleItems(pair, 'source', NS, scheduleName)).map((i) => i.name);
    const back = Date.now();
    await pair.startWorker('source');
    const schedule = await waitFor('autoSuspend to suspend the source schedule', 150_000, async () => {
      const cr = await scheduleCr(pair, 'source', NS, scheduleName);
      return cr?.spec?.suspend === true && cr.status?.applicationActivated === true ? cr : undefined;
    });
    const started = (await scheduleItems(pair, 'source', NS, scheduleName))
      .map((i) => i.name)
      .filter((n) => !before.includes(n));
    if (started.length > 0)
      throw new Error(`the source's schedule started ${started.join(', ')} over the activated standby`);
    suspendedBy = `autoSuspend ${((Date.now() - back) / 1000).toFixed(0)} s after its worker returned (applicationActivated: ${String(schedule.status?.applicationActivated)})`;
    return `the source is back, MigrationSchedule ${scheduleName} suspended by ${suspendedBy}`;
  });

  await step('failback 1: sync back, app still on the standby', async () => {
    await pair.startWorker('destination');
    // Stork's own objects are not migrated: the pair back and the Rule the migration runs are
    // created on the standby, as an operator does for failback.
    const rule = (await (
      await pair.kube('source')
    ).request('GET', `/apis/${GROUP_VERSION}/namespaces/${NS}/rules/postgres-checkpoint`)) as {
      metadata: { name: string };
    };
    await apply('destination', 'failback-pair', [
      pair.clusterPair('destination', 'failback', NS, DISASTER_RECOVERY_MODE),
      { ...rule, metadata: { name: rule.metadata.name, namespace: NS } },
    ]);
    return migrate('destination', 'failback-1', 'failback');
  });

  await step('failback 2: deactivate standby, final sync', async () => {
    const lines = await storkctl('destination', 'deactivate');
    await pg('destination').gone();
    return `${lines.length} changes; ${await migrate('destination', 'failback-2', 'failback')}`;
  });

  await step('failback 3: activate on the source', async () => {
    await pg('source').gone();
    const lines = await storkctl('source', 'activate');
    await pg('source').ready();
    const rows = await pg('source').sql('SELECT phase, count(*) FROM drill GROUP BY phase ORDER BY phase');
    if (rows !== 'before-disaster|100\nduring-outage|50')
      throw new Error(`the source after failback holds ${JSON.stringify(rows)}`);
    const aside = lines.join('\n').match(/moved to (\S+)\)/)?.[1];
    // A rerun (a drill interrupted after this step, say) changes nothing and loses nothing.
    const again = await storkctl('source', 'activate');
    const changed = again.filter((l) => !/ already /.test(l));
    if (changed.length > 0) throw new Error(`a second activate on the source changed: ${changed.join('; ')}`);
    return `${lines.filter((l) => l.startsWith('Promoted')).length} volume promoted (the old one kept at ${aside ?? '?'}); PostgreSQL answers on the source with the 50 rows written during the outage; a second activate changes nothing`;
  });
}

async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function report(steps: Step[], ok: boolean): string {
  const width = Math.max(...steps.map((s) => s.name.length), 4);
  const rows = steps.map(
    (s) => `  ${s.name.padEnd(width)}  ${(s.ms / 1000).toFixed(1).padStart(6)} s  ${s.detail}`,
  );
  const total = steps.reduce((a, s) => a + s.ms, 0);
  return [
    '',
    `DR drill ${ok ? 'passed' : 'FAILED'}`,
    '',
    `  ${'step'.padEnd(width)}  ${'time'.padStart(8)}  what happened`,
    ...rows,
    `  ${'total'.padEnd(width)}  ${(total / 1000).toFixed(1).padStart(6)} s`,
    '',
  ].join('\n');
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[drill] ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
