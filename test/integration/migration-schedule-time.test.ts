// The MigrationSchedule workflow over simulated days, on Temporal's time-skipping test server (a
// real JVM) with the real workflow code. Activities are stubs in this file: the schedule's spec
// and policies live in memory, and the child Migration workflows (the real ones) run against
// stub Migration activities that finish at once and record each migration's name.
//
// A trap of the test server (temporal-test-server 1.38.0, TestWorkflowMutableStateImpl): when a
// child workflow closes, the server takes a time-skipping lock ("processCompleteWorkflowExecution
// notify parent") that only the parent's recording of the child's completion releases
// ("childWorkflowCompleted"). If the parent's run is already closed (continued as new,
// terminated), that recording fails with NOT_FOUND, which is swallowed, and the lock stays for
// the life of the server: every later env.sleep then runs at wall-clock speed, with a timer
// pending and nothing in flight. So no test here may let a child outlive its parent's run
// unless it gives that lock back (releaseOrphanedChildLock).
import { jest } from '@jest/globals';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import {
  migrationScheduleSpecSchema,
  type MigrationScheduleStatus,
  schedulePolicyItemSchema,
  type MigrationScheduleSpec,
  type MigrationSpec,
  type SchedulePolicyItem,
} from '../../api/index.js';
import type { KubeEvent, MigrationActivities, MigrationScheduleActivities } from '../../activities/types.js';
import type { MigrationScheduleInput, ScheduleStatusView } from '../../workflows/migration-schedule.js';
import { migrationOutcome } from '../../activities/migration-schedule-cr.js';
import { ensureSearchAttributes } from '../../workers/search-attributes.js';
import { harness } from '../harness/context.js';
import { eventually } from '../harness/eventually.js';
import { startTimeSkippingEnv } from '../harness/time-skipping.js';
import { recordHistory } from '../harness/histories.js';

jest.setTimeout(120_000);

const HOUR = 3_600_000;
const NS = 'apps';

/** In-memory world of the stubs. */
const policies = new Map<string, unknown>();
const started: string[] = [];
const events: KubeEvent[] = [];
const failing = new Set<string>();
/** Migrations (by name prefix) whose pre-exec rule takes 110 simulated seconds, once. */
const slow = new Set<string>();
let skipTime: (ms: number) => Promise<void> = async () => {};
/** Migrations (by name prefix) whose pre-exec rule waits, in wall-clock time, until the test lets it go. */
const held = new Map<string, { entered: () => void; release: Promise<void> }>();
let lastStatus: MigrationScheduleStatus | undefined;
let skippedReported = 0;
/** Schedules whose apps the stub standby says are activated; and the CRs suspendSchedule set. */
const activeOnStandby = new Set<string>();
const suspendedCrs: string[] = [];
let activationChecks = 0;

const activities: MigrationActivities & MigrationScheduleActivities = {
  async loadSchedule(input) {
    const spec = migrationScheduleSpecSchema.applyDefaults(input.spec) as MigrationScheduleSpec;
    const policy = policies.get(spec.schedulePolicyName);
    if (!policy) return { spec, policyError: `schedulepolicy ${spec.schedulePolicyName} not found` };
    return { spec, policy: schedulePolicyItemSchema.applyDefaults(policy) as SchedulePolicyItem };
  },
  async publishScheduleStatus(input) {
    lastStatus = input.status;
    events.push(...input.events);
    skippedReported += input.skippedTriggers ?? 0;
  },
  async deleteMigrations(input) {
    return input.names;
  },
  async checkStandbyActivation(input) {
    activationChecks += 1;
    const active = activeOnStandby.has(input.name);
    return { active, evidence: active ? [`deployment ${NS}/web runs 2 replicas`] : [] };
  },
  async suspendSchedule(input) {
    suspendedCrs.push(input.name);
    return true;
  },
  // The real one: it asks the server through the worker's client.
  migrationOutcome: (input) => migrationOutcome(input),
  async prepareMigration(input) {
    started.push(input.name);
    if ([...failing].some((prefix) => input.name.startsWith(prefix)))
      throw ApplicationFailure.nonRetryable(`volume of ${input.name} is broken`, 'VolumeError');
    return { spec: input.spec as MigrationSpec, uid: 'uid', creationTimestamp: '' };
  },
  async checkClusterPair() {
    return { mode: '', storage: false, standbyVersion: 'v1.31.0' };
  },
  async planMigration() {
    return { namespaces: [NS], skippedNamespaces: [], volumes: [] };
  },
  async runRule() {
    // The Migration workflow runs its preExecRule with a 2-minute heartbeat timeout.
    const name = Context.current().info.workflowExecution?.workflowId.split('/').pop() ?? '';
    const prefix = [...slow].find((p) => name.startsWith(p));
    if (prefix) {
      slow.delete(prefix);
      await skipTime(110_000); // the test server's clock moves while this activity runs
    }
    const hold = [...held].find(([p]) => name.startsWith(p));
    if (hold) {
      held.delete(hold[0]);
      hold[1].entered();
      await hold[1].release;
    }
    return { ran: [] };
  },
  async snapshotVolumes() {
    return { snapshots: {} };
  },
  async transferVolume() {
    throw new Error('no volumes in these tests');
  },
  async stopTransfers() {
    throw new Error('no volumes in these tests');
  },
  async migrateResources() {
    return {
      resources: [],
      unlisted: 0,
      succeeded: 0,
      created: 0,
      updated: 0,
      unchanged: 0,
      purged: 0,
      failed: 0,
    };
  },
  async publishMigrationStatus() {},
};

function stamp(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)}-${iso.slice(11, 19).replaceAll(':', '')}`;
}
function parseStamp(name: string): number {
  const m = /(\d{4}-\d{2}-\d{2})-(\d{2})(\d{2})(\d{2})$/.exec(name)!;
  return Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}Z`);
}
const ofSchedule = (schedule: string) => started.filter((n) => n.startsWith(`${schedule}-`));

/** Holds the pre-exec rule of the next migration named `prefix`*: resolves once it waits there. */
function hold(prefix: string): { entered: Promise<void>; release: () => void } {
  let entered!: () => void;
  let release!: () => void;
  const enteredP = new Promise<void>((r) => (entered = r));
  held.set(prefix, { entered, release: new Promise<void>((r) => (release = r)) });
  return { entered: enteredP, release };
}

function spec(policyName: string, extra: Partial<MigrationScheduleSpec> = {}, preExecRule?: string): unknown {
  return {
    template: {
      spec: {
        clusterPair: 'remote',
        namespaces: [NS],
        includeVolumes: false,
        ...(preExecRule ? { preExecRule } : {}),
      },
    },
    schedulePolicyName: policyName,
    ...extra,
  };
}

describe('MigrationSchedule workflow over simulated time', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  const taskQueue = `schedule-${Date.now()}`;

  beforeAll(async () => {
    env = await startTimeSkippingEnv();
    // The schedule's migrations start with Ferry's search attributes: register them as the worker does.
    await ensureSearchAttributes(env.connection, env.namespace ?? 'default');
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: { codePath: harness().workflowBundlePath },
      activities,
    });
    running = worker.run();
    skipTime = (ms) => env.sleep(ms);
  }, 150_000);

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await env?.teardown();
  });

  /**
   * Gives back the time-skipping lock the test server leaks when a child closes after its
   * parent's run did (see the top of this file). Call it once per such child, after it closed.
   * An unlock the server is not owed makes its next env.sleep fail ("Unbalanced lock and unlock
   * calls"), so a leak that did not happen fails the test too.
   */
  const releaseOrphanedChildLock = () => env.connection.testService!.unlockTimeSkipping({});

  const start = (name: string, input: Partial<MigrationScheduleInput> = {}) =>
    env.client.workflow.start('migrationScheduleWorkflow', {
      taskQueue,
      workflowId: `migrationschedule/${NS}/${name}`,
      args: [{ namespace: NS, name, ...input }],
    });

  it('an interval policy triggers at once, then every intervalMinutes, for two simulated days', async () => {
    policies.set('every-hour', { interval: { intervalMinutes: 60 } });
    const t0 = await env.currentTimeMs();
    const handle = await start('hourly', { spec: spec('every-hour') });
    await env.sleep(48 * HOUR + 30 * 60_000);
    const names = ofSchedule('hourly');
    const first = parseStamp(names[0]!);
    expect(first - t0).toBeLessThan(5_000);
    const expected = Array.from({ length: 49 }, (_, k) => `hourly-interval-${stamp(first + k * HOUR)}`);
    expect(names).toEqual(expected);
    const status = await handle.query<ScheduleStatusView>('status');
    expect(status.counts).toMatchObject({ triggered: 49, succeeded: 49, failed: 0, skipped: 0 });
    // Retention: interval keeps 10 by default; the rest were deleted.
    expect(status.counts.deleted).toBe(39);
    expect(status.items!.Interval!.map((i) => i.name)).toEqual([expected[48]]);
    expect(lastStatus?.items?.Interval?.[0]).toMatchObject({ name: expected[48], status: 'Successful' });
    expect(events.filter((e) => e.message.includes('hourly-interval')).length).toBeGreaterThanOrEqual(49);
    await handle.terminate();
  });

  it('a daily policy triggers once a day at its time, named by the trigger', async () => {
    const t0 = await env.currentTimeMs();
    // Three hours from now, on the hour (UTC), as Go's Kitchen time.
    const at = new Date(Math.floor(t0 / HOUR) * HOUR + 3 * HOUR);
    const h = at.getUTCHours();
    const kitchen = `${h % 12 === 0 ? 12 : h % 12}:00${h < 12 ? 'AM' : 'PM'}`;
    policies.set('daily', { daily: { time: kitchen } });
    const handle = await start('nightly', { spec: spec('daily') });
    await env.sleep(3 * 24 * HOUR + 3 * HOUR + 60_000);
    const expected = [0, 1, 2, 3].map((d) => `nightly-daily-${stamp(at.getTime() + d * 24 * HOUR)}`);
    expect(ofSchedule('nightly')).toEqual(expected);
    await recordHistory(env.address, handle.workflowId, 'schedule-daily');
    await handle.terminate();
  });

  it('suspend stops new migrations; resume continues on the grid', async () => {
    policies.set('every-hour', { interval: { intervalMinutes: 60 } });
    const handle = await start('pausing', { spec: spec('every-hour') });
    await env.sleep(2 * HOUR + 30 * 60_000);
    await handle.signal('suspend');
    await env.sleep(3 * HOUR);
    expect((await handle.query<ScheduleStatusView>('status')).suspended).toBe(true);
    await handle.signal('resume');
    await env.sleep(2 * HOUR);
    const names = ofSchedule('pausing');
    const first = parseStamp(names[0]!);
    expect(names).toEqual([0, 1, 2, 6, 7].map((k) => `pausing-interval-${stamp(first + k * HOUR)}`));
    await recordHistory(env.address, handle.workflowId, 'schedule-suspend-resume');
    await handle.terminate();
  });

  it('a missing policy is reported, retried every minute, and used once it exists', async () => {
    const t0 = await env.currentTimeMs();
    const handle = await start('waiting', { spec: spec('late-policy') });
    await env.sleep(5 * 60_000);
    expect(ofSchedule('waiting')).toEqual([]);
    expect(events.map((e) => e.message)).toContain(
      'Error checking if migration should be triggered: schedulepolicy late-policy not found',
    );
    expect((await handle.query<ScheduleStatusView>('status')).lastError).toContain('late-policy not found');
    policies.set('late-policy', { interval: { intervalMinutes: 30 } });
    await env.sleep(2 * HOUR);
    const names = ofSchedule('waiting');
    const first = parseStamp(names[0]!);
    expect(first - t0).toBeGreaterThan(5 * 60_000 - 1_000); // names keep whole seconds
    expect(first - t0).toBeLessThanOrEqual(6 * 60_000 + 5_000);
    expect(names).toEqual([0, 1, 2, 3].map((k) => `waiting-interval-${stamp(first + k * 30 * 60_000)}`));
    expect((await handle.query<ScheduleStatusView>('status')).lastError).toBeUndefined();
    await recordHistory(env.address, handle.workflowId, 'schedule-missing-policy');
    await handle.terminate();
  });

  it('a failed migration stays in status beside the last success, and is reported', async () => {
    policies.set('every-hour', { interval: { intervalMinutes: 60 } });
    const handle = await start('flaky', { spec: spec('every-hour') });
    await env.sleep(90 * 60_000);
    failing.add('flaky-');
    await env.sleep(60 * 60_000);
    failing.clear();
    const status = await handle.query<ScheduleStatusView>('status');
    const names = ofSchedule('flaky');
    expect(names).toHaveLength(3);
    expect(status.items!.Interval!.map((i) => [i.name, i.status])).toEqual([
      [names[1], 'Successful'],
      [names[2], 'Failed'],
    ]);
    expect(events.map((e) => e.message)).toContain(
      `Scheduled migration (${names[2]}) status Failed: volume of ${names[2]} is broken`,
    );
    expect(events.map((e) => e.message)).toContain(
      `Scheduled migration (${names[1]}) completed successfully`,
    );
    await recordHistory(env.address, handle.workflowId, 'schedule-failed-migration');
    await recordHistory(env.address, `migration/${NS}/${names[2]}`, 'migration-failed');
    await handle.terminate();
  });

  it('a trigger due while a migration runs is skipped and counted', async () => {
    policies.set('every-minute', { interval: { intervalMinutes: 1 } });
    slow.add('busy-');
    const skippedBefore = skippedReported;
    const handle = await start('busy', { spec: spec('every-minute', {}, 'slow') });
    await env.sleep(4 * 60_000 + 30_000);
    const names = ofSchedule('busy');
    const first = parseStamp(names[0]!);
    // The first runs 110 s: the trigger at +1 min is skipped; +2, +3 and +4 fire.
    expect(names).toEqual([0, 2, 3, 4].map((k) => `busy-interval-${stamp(first + k * 60_000)}`));
    const status = await handle.query<ScheduleStatusView>('status');
    expect(status.counts).toMatchObject({ triggered: 4, skipped: 1 });
    // The worker's metric hears of each skip once, from the publish that carried its Event.
    expect(skippedReported - skippedBefore).toBe(1);
    expect(events.map((e) => e.message)).toContain(
      `Skipped 1 interval trigger: migration ${names[0]} is still running`,
    );
    await recordHistory(env.address, handle.workflowId, 'schedule-skipped-trigger');
    await handle.terminate();
  });

  it('continues as new past a low history limit and keeps its grid', async () => {
    policies.set('every-hour', { interval: { intervalMinutes: 60 } });
    const handle = await start('long', { spec: spec('every-hour'), historyLimit: 60 });
    await env.sleep(24 * HOUR + 30 * 60_000);
    const names = ofSchedule('long');
    const first = parseStamp(names[0]!);
    expect(names).toEqual(Array.from({ length: 25 }, (_, k) => `long-interval-${stamp(first + k * HOUR)}`));
    const status = await handle.query<ScheduleStatusView>('status');
    expect(status.runs).toBeGreaterThan(2);
    expect(status.counts.triggered).toBe(25);
    const desc = await handle.describe();
    expect(desc.runId).not.toBe(handle.firstExecutionRunId);
    process.stderr.write(`[schedule] 25 hourly triggers over ${status.runs} runs (history limit 60)\n`);
    await recordHistory(env.address, handle.workflowId, 'schedule-continued-as-new');
    await handle.terminate();
  });

  it('autoSuspend: once the apps run on the standby, the schedule suspends itself; without it, it does not', async () => {
    policies.set('every-hour', { interval: { intervalMinutes: 60 } });
    const guarded = await start('guarded', { spec: spec('every-hour', { autoSuspend: true }) });
    const plain = await start('plain', { spec: spec('every-hour') });
    await env.sleep(2 * HOUR + 30 * 60_000);
    const checksBefore = activationChecks;
    expect(checksBefore).toBeGreaterThanOrEqual(3); // before each trigger of `guarded`, none for `plain`
    activeOnStandby.add('guarded').add('plain');
    await env.sleep(3 * HOUR);
    const guardedNames = ofSchedule('guarded');
    const first = parseStamp(guardedNames[0]!);
    // Activated at +2.5 h: the poll (every 5 minutes) suspends it before the +3 h trigger.
    expect(guardedNames).toEqual([0, 1, 2].map((k) => `guarded-interval-${stamp(first + k * HOUR)}`));
    expect(ofSchedule('plain')).toHaveLength(6);
    const status = await guarded.query<ScheduleStatusView>('status');
    expect(status.spec?.suspend).toBe(true);
    expect(status.autoSuspended?.evidence).toEqual([`deployment ${NS}/web runs 2 replicas`]);
    expect(Date.parse(status.autoSuspended!.at) - first).toBeLessThanOrEqual(2.5 * HOUR + 5 * 60_000 + 1000);
    expect(suspendedCrs).toEqual(['guarded']);
    expect(events.map((e) => e.message)).toContain(
      'Suspending migration schedule since migrated apps on remote cluster are active',
    );
    expect((await plain.query<ScheduleStatusView>('status')).spec?.suspend).toBe(false);
    activeOnStandby.clear();
    await recordHistory(env.address, guarded.workflowId, 'schedule-auto-suspend');
    await guarded.terminate();
    await plain.terminate();
  });

  it('three simulated months, one schedule with all four types: monthly on the 31st, daily across DST, weekly, interval', async () => {
    // Move the clock to the next 15 January, 00:00 UTC: the months ahead hold a 31-day month, a
    // February, and New York's switch to daylight time (second Sunday of March).
    const now = await env.currentTimeMs();
    let year = new Date(now).getUTCFullYear();
    if (now >= Date.UTC(year, 0, 15)) year += 1;
    const t0 = Date.UTC(year, 0, 15);
    await env.sleep(t0 - now);
    policies.set('quarter', {
      timezone: 'America/New_York',
      interval: { intervalMinutes: 3 * 24 * 60 },
      daily: { time: '9:00PM' },
      weekly: { day: 'Wednesday', time: '10:00AM' },
      monthly: { date: 31, time: '3:00PM' },
    });
    const handle = await start('quarter', { spec: spec('quarter') });
    const end = t0 + 90 * 24 * HOUR + 60_000; // a minute past day 90's interval trigger, which runs then
    await env.sleep(end - (await env.currentTimeMs()));

    // The oracle, plain Date arithmetic: New York is UTC-5, and UTC-4 from the second Sunday of
    // March (every wall time used here is after 3 AM on that day).
    const firstOfMarch = new Date(Date.UTC(year, 2, 1)).getUTCDay();
    const dstDay = 1 + ((7 - firstOfMarch) % 7) + 7; // the second Sunday's date
    const ny = (y: number, m: number, d: number, h: number) => {
      const day = new Date(Date.UTC(y, m, d)); // normalised: day 31 of February is in March
      const summer = day.getTime() >= Date.UTC(year, 2, dstDay);
      return Date.UTC(y, m, d, h + (summer ? 4 : 5));
    };
    const expected: [number, string][] = [];
    const add = (type: string, at: number) => {
      if (at > t0 && at <= end) expected.push([at, `quarter-${type}-${stamp(at)}`]);
    };
    // From the evening of the 14th (New York), which is 02:00 UTC on the 15th, after t0.
    for (let d = -1; d <= 92; d++) {
      add('daily', ny(year, 0, 15 + d, 21));
      const date = new Date(Date.UTC(year, 0, 15 + d));
      if (date.getUTCDay() === 3) add('weekly', ny(year, 0, 15 + d, 10));
    }
    // Monthly on the 31st: a month without it rolls over, as Go's time.Date does and schedule/
    // implements (February 31 is March 3, or March 2 in a leap year; April 31 is May 1).
    for (let m = 0; m <= 3; m++) add('monthly', ny(year, m, 31, 15));
    const names = ofSchedule('quarter');
    const first = parseStamp(names[0]!);
    expect(first - t0).toBeLessThan(5_000);
    for (let k = 0; first + k * 3 * 24 * HOUR <= end; k++)
      expected.push([first + k * 3 * 24 * HOUR, `quarter-interval-${stamp(first + k * 3 * 24 * HOUR)}`]);
    expected.sort((a, b) => a[0] - b[0]);
    expect(names).toEqual(expected.map(([, n]) => n));
    // The rolled-over February trigger and the DST switch, spelled out.
    const leap = new Date(Date.UTC(year, 1, 29)).getUTCMonth() === 1;
    expect(names).toContain(`quarter-monthly-${year}-03-0${leap ? 2 : 3}-200000`);
    expect(names).toContain(`quarter-monthly-${year}-03-31-190000`);
    // Saturday 9 PM EST is Sunday 02:00 UTC; Sunday 9 PM EDT is Monday 01:00 UTC.
    expect(names).toContain(`quarter-daily-${year}-03-${String(dstDay).padStart(2, '0')}-020000`);
    expect(names).toContain(`quarter-daily-${year}-03-${String(dstDay + 1).padStart(2, '0')}-010000`);
    const status = await handle.query<ScheduleStatusView>('status');
    expect(status.counts).toMatchObject({ triggered: expected.length, skipped: 0, failed: 0 });
    process.stderr.write(
      `[schedule] ${expected.length} migrations over 90 simulated days (${names.filter((n) => n.includes('-daily-')).length} daily, ${names.filter((n) => n.includes('-weekly-')).length} weekly, ${names.filter((n) => n.includes('-monthly-')).length} monthly, ${names.filter((n) => n.includes('-interval-')).length} interval)\n`,
    );
    await recordHistory(env.address, handle.workflowId, 'schedule-quarter');
    await handle.terminate();
  });

  it('a migration that outlives its run is carried across continue-as-new, and the next run records it once', async () => {
    policies.set('every-hour', { interval: { intervalMinutes: 60 } });
    const migration = hold('carry-');
    const handle = await start('carry', { spec: spec('every-hour', {}, 'held'), historyLimit: 40 });
    await migration.entered; // the first migration waits in its pre-exec rule, in wall-clock time
    const [name] = ofSchedule('carry');
    const child = env.client.workflow.getHandle(`migration/${NS}/${name!}`);
    // Signals grow the history while it runs, until it has doubled past the limit: the run then
    // continues as new without waiting for the migration.
    const firstRun = handle.firstExecutionRunId;
    await eventually('the schedule continued as new', async () => {
      if ((await handle.describe()).runId !== firstRun) return true;
      await handle.signal('resume');
      return undefined;
    });
    const history = await env.client.workflow.getHandle(handle.workflowId, firstRun).fetchHistory();
    const last = history.events!.at(-1)!;
    expect(last.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
    expect(Number(last.eventId)).toBeGreaterThanOrEqual(2 * 40);
    expect(history.events!.some((e) => e.childWorkflowExecutionCompletedEventAttributes)).toBe(false);
    expect((await child.describe()).status.name).toBe('RUNNING'); // ABANDON: the run's end did not stop it
    migration.release();
    await eventually('the migration finished', async () =>
      (await child.describe()).status.name === 'COMPLETED' ? true : undefined,
    );
    await releaseOrphanedChildLock();
    // The next run asks about it every minute.
    await env.sleep(2 * 60_000);
    const status = await handle.query<ScheduleStatusView>('status');
    expect(status.runs).toBeGreaterThanOrEqual(2);
    expect(status.runs).toBeLessThanOrEqual(3); // no run continues as new at once, over and over
    expect(status.running).toEqual([]);
    expect(status.counts).toMatchObject({ triggered: 1, succeeded: 1, failed: 0, skipped: 0 });
    expect(status.items!.Interval!.map((i) => [i.name, i.status])).toEqual([[name, 'Successful']]);
    const completed = `Scheduled migration (${name!}) completed successfully`;
    expect(events.filter((e) => e.message === completed)).toHaveLength(1);
    // The clock skips again and the schedule keeps its grid.
    await env.sleep(HOUR);
    expect(ofSchedule('carry')).toEqual([name, `carry-interval-${stamp(parseStamp(name!) + HOUR)}`]);
    await env.sleep(60_000); // that one finishes before its schedule is terminated
    // The run that continued as new with the migration running, and the run that watched it.
    await recordHistory(env.address, handle.workflowId, 'schedule-carried-migration', firstRun);
    const secondRun = last.workflowExecutionContinuedAsNewEventAttributes!.newExecutionRunId!;
    await recordHistory(env.address, handle.workflowId, 'schedule-carried-migration-next-run', secondRun);
    await handle.terminate();
  });

  it('a retried triggerNow (same update id) returns the same migration, across continue-as-new', async () => {
    policies.set('daily-noon', { daily: { time: '12:00PM' } });
    const handle = await start('retried', { spec: spec('daily-noon'), historyLimit: 40 });
    await env.sleep(60_000);
    const runId = (await handle.describe()).runId;
    const trigger = (updateId: string) =>
      handle.executeUpdate<string, [{ type?: string } | undefined]>('triggerNow', { args: [{}], updateId });
    const name = await trigger('request-1');
    await env.sleep(5 * 60_000);
    // The migration finished and the schedule continued as new since.
    expect((await handle.describe()).runId).not.toBe(runId);
    expect(ofSchedule('retried')).toEqual([name]);
    expect(await trigger('request-1')).toBe(name);
    expect(ofSchedule('retried')).toEqual([name]);
    const status = await handle.query<ScheduleStatusView>('status');
    expect(status.updates).toEqual({ 'request-1': name });
    expect(status.counts.triggered).toBe(1);
    expect(status.runs).toBe(2);
    // Another id is another request.
    const other = await trigger('request-2');
    expect(other).not.toBe(name);
    await env.sleep(60_000); // that one finishes before its schedule is terminated
    expect(ofSchedule('retried')).toEqual([name, other]);
    await recordHistory(env.address, handle.workflowId, 'schedule-retried-update');
    await handle.terminate();
  });

  it('a triggerNow within the second of the previous migration is named for the next free second', async () => {
    policies.set('daily-noon', { daily: { time: '12:00PM' } });
    const handle = await start('twice', { spec: spec('daily-noon') });
    await env.sleep(60_000);
    const trigger = () =>
      handle.executeUpdate<string, [{ type?: string } | undefined]>('triggerNow', { args: [{}] });
    const first = await trigger();
    await eventually('the schedule recorded the first migration', async () =>
      (await handle.query<ScheduleStatusView>('status')).running.length === 0 ? true : undefined,
    );
    const second = await trigger();
    const stamp = (n: string) =>
      Date.parse(n.replace(/^twice-daily-(\d+-\d+-\d+)-(\d\d)(\d\d)(\d\d)$/, '$1T$2:$3:$4Z'));
    console.log(`[schedule-time] triggerNow twice: ${first}, ${second}`);
    expect(second).not.toBe(first);
    expect(stamp(second) - stamp(first)).toBeGreaterThanOrEqual(1000);
    await env.sleep(60_000); // that one finishes before its schedule is terminated
    expect(ofSchedule('twice')).toEqual([first, second]);
    const status = await handle.query<ScheduleStatusView>('status');
    expect(status.counts.triggered).toBe(2);
    await handle.terminate();
  });

  // Kept last: once, a long env.sleep run after this test's updates did not skip time.
  it('triggerNow returns the new name; updateSpec rejects a bad spec naming the field', async () => {
    policies.set('daily-noon', { daily: { time: '12:00PM' } });
    const handle = await start('manual', { spec: spec('daily-noon') });
    await env.sleep(60_000);
    const before = ofSchedule('manual').length;
    const name = await handle.executeUpdate<string, [{ type?: string } | undefined]>('triggerNow', {
      args: [{}],
    });
    expect(name).toMatch(/^manual-daily-\d{4}-\d{2}-\d{2}-\d{6}$/);
    await env.sleep(60_000);
    expect(ofSchedule('manual')).toHaveLength(before + 1);
    expect(ofSchedule('manual')).toContain(name);
    await expect(
      handle.executeUpdate('updateSpec', { args: [{ ...(spec('daily-noon') as object), suspend: 'yes' }] }),
    ).rejects.toMatchObject({ cause: { message: expect.stringMatching(/spec\.suspend: /) } });
    await handle.executeUpdate('updateSpec', { args: [spec('daily-noon', { suspend: true })] });
    expect((await handle.query<ScheduleStatusView>('status')).spec?.suspend).toBe(true);
    await recordHistory(env.address, handle.workflowId, 'schedule-updates');
    await handle.terminate();
  });
});
