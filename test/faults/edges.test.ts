// Faults at the edges of a migration, other than kills (random-kills.test.ts does those), on the
// Temporal dev server, two API-only clusters, a storage agent per cluster and one `ferry worker`,
// all real and on loopback:
//   1. the standby's API server, then its storage agent, down for longer than the pairing check's
//      retries: the migration fails naming what was unreachable; once it is back, the next
//      migration succeeds;
//   2. the destination's disk full (a small tmpfs under one standby volume): the migration fails
//      naming ENOSPC, the previous restore point stays byte for byte, the failed attempt's space is
//      given back, and once there is room the next migration succeeds;
//   3. a stuck transfer (the destination agent SIGSTOPped mid-transfer): the migration fails within
//      the worker's --transfer-stall-seconds plus a heartbeat timeout, not its 24-hour
//      start-to-close, and its MigrationSchedule's next migration succeeds;
//   4. a frozen commit (the destination agent SIGSTOPped once the source commits): the migration
//      fails at the commit watch's first question unanswered past --transfer-stall-seconds, not
//      after the commit request's hour, and once the agent runs again the next one succeeds.
// The figures (times, bytes) are printed as `[faults]` lines.
import { jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describeTree, prng } from '../agents/trees.js';
import { migrationYaml } from '../fixtures/apps/shop.js';
import { startDrWorld, type DrWorld } from '../harness/dr-world.js';
import { eventually } from '../harness/eventually.js';
import { COMMIT_ASK_MS, COMMIT_CHECK_MS } from '../../activities/transfer-progress.js';
import {
  appWithVolume,
  everyMinuteScheduleYaml,
  expectSameBytes,
  midTransfer,
  MiB,
  say,
  scheduledMigrations,
  secs,
  startFaultsEnvironment,
  type FaultsEnvironment,
} from '../harness/faults-env.js';

jest.setTimeout(180_000);

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const run = promisify(execFile);
/** The worker's --transfer-stall-seconds, short so that case 3 ends in seconds. */
const STALL_S = 8;
/** The transfer activity's heartbeatTimeout (workflows/migration.ts). */
const HEARTBEAT_S = 15;

let f: FaultsEnvironment;
let world: DrWorld;
const mounts: string[] = [];

/** Unmounts this file's tmpfs mounts, a killed earlier run's too (before its directory is removed). */
async function unmountAll(): Promise<void> {
  const stale = fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter(([what, where]) => what?.startsWith('ferry-edge-') && where?.includes('/faults-edges/'))
    .map(([, where]) => where!);
  for (const m of new Set([...mounts, ...stale])) await run('umount', ['-l', m]).catch(() => undefined);
}

beforeAll(async () => {
  const t0 = Date.now();
  await unmountAll();
  f = await startFaultsEnvironment('faults-edges', { temporal: 'dev' });
  world = await startDrWorld('edges', {
    context: f.context,
    workerArgs: ['--transfer-stall-seconds', `${STALL_S}`],
  });
  say(`edges: environment, agents and worker ready in ${secs(Date.now() - t0)}`);
}, 600_000);

afterAll(async () => {
  await unmountAll();
  await world?.stop().catch(() => undefined);
  await f?.env.stop();
  if (world)
    for (const a of Object.values(world.agents)) await rm(a.dataRoot, { recursive: true, force: true });
});

async function migrate(ns: string, name: string): Promise<{ status: Obj; ms: number }> {
  const t0 = Date.now();
  await world.kubectl(
    'source',
    ['apply', '-f', '-'],
    migrationYaml(ns, name, { clusterPair: 'remote', namespaces: [ns] }),
  );
  const m = await world.waitForMigration(ns, name, 120_000);
  return { status: m['status'] as Obj, ms: Date.now() - t0 };
}

describe('the standby unreachable for longer than the retry budget', () => {
  it('its API server: the migration fails naming it; back up, the next one succeeds', async () => {
    const ns = 'edge-api';
    const volume = await appWithVolume(world, ns, 1, 1);
    const destination = f.env.clusters.find((c) => c.name === 'destination')!;
    await destination.stopApiserver();
    let failed;
    try {
      failed = await migrate(ns, 'while-down');
    } finally {
      await destination.startApiserver();
    }
    expect(failed.status.status).toBe('Failed');
    expect(failed.status.reason).toMatch(
      /^ClusterPair edge-api\/remote: standby API server unreachable: .*ECONNREFUSED/,
    );
    say(`standby API server down: Failed in ${secs(failed.ms)}: ${failed.status.reason}`);

    const next = await migrate(ns, 'when-back');
    expect(next.status.status).toBe('Successful');
    expectSameBytes(world, volume);
    say(`standby API server back: the next migration Successful in ${secs(next.ms)}`);
  });

  it('its storage agent: the migration fails naming it; back up, the next one succeeds', async () => {
    const ns = 'edge-agent';
    const volume = await appWithVolume(world, ns, 1, 1);
    const url = world.agents.destination.url;
    await world.agents.destination.stop();
    let failed;
    try {
      failed = await migrate(ns, 'while-down');
    } finally {
      world.agents.destination = await world.agents.destination.restart();
    }
    expect(failed.status.status).toBe('Failed');
    expect(failed.status.reason).toContain(
      `ClusterPair edge-agent/remote: destination agent ${url} unreachable`,
    );
    say(`destination agent down: Failed in ${secs(failed.ms)}: ${failed.status.reason}`);

    const next = await migrate(ns, 'when-back');
    expect(next.status.status).toBe('Successful');
    expectSameBytes(world, volume);
    say(`destination agent back: the next migration Successful in ${secs(next.ms)}`);
  });
});

describe('the destination disk full', () => {
  it('fails naming ENOSPC, keeps the previous restore point, gives the space back; with room the next one succeeds', async () => {
    const ns = 'edge-full';
    const volume = await appWithVolume(world, ns, 2, 4);
    // The standby of this one volume lives on a 24 MiB tmpfs: room for 8 MiB, not for 8 + 32.
    const disk = path.join(world.agents.destination.dataRoot, 'standby', volume);
    fs.mkdirSync(disk, { recursive: true });
    await run('mount', ['-t', 'tmpfs', '-o', 'size=24m', `ferry-${ns}`, disk]);
    mounts.push(disk);
    const used = () => {
      const s = fs.statfsSync(disk);
      return (s.blocks - s.bfree) * s.bsize;
    };

    const first = await migrate(ns, 'fits');
    expect(first.status.status).toBe('Successful');
    expectSameBytes(world, volume);
    const restorePoint = fs.readlinkSync(world.agents.destination.standbyPath(volume));
    const before = describeTree(world.agents.destination.standbyPath(volume));
    const usedBefore = used();

    fs.writeFileSync(path.join(world.agents.source.volumePath(volume), 'big.bin'), prng(32 * MiB, 'big'));
    const full = await migrate(ns, 'too-big');
    expect(full.status.status).toBe('Failed');
    expect(full.status.reason).toMatch(/ENOSPC/);
    expect(full.status.reason).toContain(volume);
    const usedAfter = used();
    say(
      `disk full: Failed in ${secs(full.ms)}: ${full.status.reason}; tmpfs used ${usedBefore} bytes before, ${usedAfter} after`,
    );
    // The previous restore point is still the standby, byte for byte; nothing of the failed
    // attempt stays behind (no staging tree, no restore point, no space).
    expect(fs.readlinkSync(world.agents.destination.standbyPath(volume))).toBe(restorePoint);
    expect(describeTree(world.agents.destination.standbyPath(volume))).toEqual(before);
    expect(fs.readdirSync(path.join(disk, 'tmp'))).toEqual([]);
    expect(fs.readdirSync(path.join(disk, 'rp'))).toEqual([path.basename(restorePoint)]);
    expect(usedAfter).toBe(usedBefore);

    // Room again: the next migration succeeds.
    await run('mount', ['-o', 'remount,size=96m', disk]);
    const next = await migrate(ns, 'with-room');
    expect(next.status.status).toBe('Successful');
    expectSameBytes(world, volume);
    say(`disk grown to 96 MiB: the next migration Successful in ${secs(next.ms)}`);
  });
});

/**
 * An every-minute MigrationSchedule `name` in `ns` with its SchedulePolicy `policy` (deleted after
 * the describe block that calls this): its manifests, and the i-th migration once it is final.
 */
function everyMinuteSchedule(ns: string, name: string, policy: string) {
  afterAll(async () => {
    await world
      ?.kubectl('source', ['delete', 'schedulepolicy', policy, '--ignore-not-found'])
      .catch(() => '');
  });
  return {
    manifests: everyMinuteScheduleYaml(ns, name, policy),
    final: (i: number, timeoutMs: number): Promise<Obj> =>
      eventually(
        `scheduled migration #${i + 1} final`,
        async () => {
          const m = (await scheduledMigrations(world, ns, name))[i];
          return ['Successful', 'Failed'].includes(m?.status?.status) ? m : undefined;
        },
        timeoutMs,
        250,
      ),
  };
}

describe('a stuck transfer', () => {
  const ns = 'edge-stuck';
  const { manifests, final } = everyMinuteSchedule(ns, 'stuck', `edges-every-minute-${process.pid}`);

  it("times out on its own, not after the 24-hour start-to-close, and the schedule's next migration succeeds", async () => {
    const volume = await appWithVolume(world, ns, 3, 32);
    const t0 = Date.now();
    await world.kubectl('source', ['apply', '-f', '-'], manifests);
    // The first trigger fires at once: freeze the destination agent while its volume moves.
    const at = await midTransfer(world, volume);
    const frozen = world.agents.destination.pid;
    process.kill(frozen, 'SIGSTOP');
    const stoppedAt = Date.now();
    let first: Obj;
    try {
      first = await final(0, (STALL_S + HEARTBEAT_S + 60) * 1000);
    } finally {
      process.kill(frozen, 'SIGCONT');
    }
    const endedMs = Date.now() - stoppedAt;
    say(
      `destination agent SIGSTOPped ${secs(stoppedAt - t0)} after apply, ${at.bytesDone} of ${at.bytesTotal} bytes sent: ` +
        `${first.metadata.name} ${first.status.status} ${secs(endedMs)} later: ${first.status.reason}`,
    );
    expect(first.status.status).toBe('Failed');
    expect(first.status.reason).toMatch(
      new RegExp(
        `volume ${volume}: transfer stalled: the destination agent ${world.agents.destination.url.replaceAll('.', '\\.')} accepted no data for \\d+ s`,
      ),
    );
    expect(endedMs).toBeLessThan((STALL_S + HEARTBEAT_S) * 1000);

    // The schedule is not blocked: its next trigger's migration runs and succeeds.
    const second = await final(1, 120_000);
    expect(second.status.status).toBe('Successful');
    expectSameBytes(world, volume);
    say(`${second.metadata.name} Successful ${secs(Date.now() - t0)} after apply`);
    const status = (await world.temporal.workflow
      .getHandle(`migrationschedule/${ns}/stuck`)
      .query('status')) as { counts: Record<string, number> };
    expect(status.counts['failed']).toBe(1);
    expect(status.counts['succeeded']).toBeGreaterThanOrEqual(1);
    await world.kubectl('source', ['delete', 'migrationschedule', 'stuck', '-n', ns, '--timeout=60s']);
  });
});

describe('a frozen commit', () => {
  const ns = 'edge-frozen-commit';
  const { manifests, final } = everyMinuteSchedule(ns, 'frozen', `edges-frozen-every-minute-${process.pid}`);

  it('fails once the destination has answered nothing for the stall time, not after the hour, and the next migration succeeds', async () => {
    // 3,000 files of 4 KiB: the destination's commit writes each, long enough to be caught in it.
    const volume = await appWithVolume(world, ns, 3000, 4 / 1024);
    const t0 = Date.now();
    await world.kubectl('source', ['apply', '-f', '-'], manifests);
    const client = world.agents.source.client();
    let committing;
    try {
      committing = await eventually(
        `the source committing ${volume}`,
        async () =>
          (await client.listReplications()).find((x) => x.volume === volume && x.phase === 'committing'),
        120_000,
        5,
      );
    } finally {
      client.close();
    }
    const frozen = world.agents.destination.pid;
    process.kill(frozen, 'SIGSTOP');
    const stoppedAt = Date.now();
    let first: Obj;
    try {
      first = await final(0, (COMMIT_CHECK_MS + COMMIT_ASK_MS + HEARTBEAT_S * 1000) * 2);
    } finally {
      process.kill(frozen, 'SIGCONT');
    }
    const endedMs = Date.now() - stoppedAt;
    say(
      `destination agent SIGSTOPped ${secs(stoppedAt - t0)} after apply, the source committing ${committing.snapshotId}: ` +
        `${first.metadata.name} ${first.status.status} ${secs(endedMs)} later: ${first.status.reason}`,
    );
    expect(first.status.status).toBe('Failed');
    expect(first.status.reason).toMatch(
      new RegExp(
        `volume ${volume}: commit stalled: the destination agent ${world.agents.destination.url.replaceAll('.', '\\.')} has answered neither the worker nor the source agent for \\d+ s while committing restore point ${committing.snapshotId} `,
      ),
    );
    // the first question comes COMMIT_CHECK_MS into the commit and waits COMMIT_ASK_MS for an answer
    expect(endedMs).toBeGreaterThanOrEqual(COMMIT_CHECK_MS);
    expect(endedMs).toBeLessThan(COMMIT_CHECK_MS + COMMIT_ASK_MS + HEARTBEAT_S * 1000);

    // The agent runs again: the schedule's next migration succeeds and the standby matches.
    const second = await final(1, 150_000);
    expect(second.status.status).toBe('Successful');
    expectSameBytes(world, volume);
    say(`${second.metadata.name} Successful ${secs(Date.now() - t0)} after apply`);
    await world.kubectl('source', ['delete', 'migrationschedule', 'frozen', '-n', ns, '--timeout=60s']);
  });
});
