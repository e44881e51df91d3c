// The pure parts of `npm run bench:schedules`: when a trigger was due (from its migration's name),
// how late its migration started, which measured rounds fired, were skipped or never came, and
// the percentiles of it all. No I/O here: bench/schedules.ts feeds it what Temporal returned.
import { eachFlag } from './args.js';

/** `<schedule>-<type>-<YYYY-MM-DD-HHMMSS>`, the name a schedule gives each migration (UTC). */
const NAME = /^(.+)-(interval|daily|weekly|monthly)-(\d{4})-(\d{2})-(\d{2})-(\d{2})(\d{2})(\d{2})$/;

export interface ScheduledName {
  schedule: string;
  type: string;
  /** The trigger's time to the second, as the name spells it (epoch ms, a multiple of 1000). */
  stampMs: number;
}

/** Parses a scheduled migration's name; throws naming the value when it is not one. */
export function parseScheduledName(name: string): ScheduledName {
  const m = NAME.exec(name);
  if (!m)
    throw new Error(`migration name ${JSON.stringify(name)} is not <schedule>-<type>-<YYYY-MM-DD-HHMMSS>`);
  const [, schedule, type, y, mo, d, h, mi, s] = m;
  const stampMs = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const back = new Date(stampMs).toISOString();
  if (back !== `${y}-${mo}-${d}T${h}:${mi}:${s}.000Z`)
    throw new Error(
      `migration name ${JSON.stringify(name)}: ${y}-${mo}-${d} ${h}:${mi}:${s} is not a UTC time`,
    );
  return { schedule: schedule!, type: type!, stampMs };
}

/**
 * The trigger's scheduled time in ms. The name keeps whole seconds only; an interval grid
 * (anchor + k × whole minutes) keeps the millisecond phase of its anchor, so any trigger of the
 * same schedule (e.g. the status query's lastTrigger) gives the milliseconds back. Without it
 * the time is the name's second, up to 999 ms early (lateness up to 999 ms too high).
 */
export function scheduledTimeMs(name: string, phaseFromMs?: number): number {
  const { stampMs } = parseScheduledName(name);
  if (phaseFromMs === undefined) return stampMs;
  if (!Number.isFinite(phaseFromMs)) throw new Error(`phaseFromMs: ${phaseFromMs} is not a time`);
  return stampMs + (((phaseFromMs % 1000) + 1000) % 1000);
}

/** Lateness of a trigger: its migration's start time minus the trigger's scheduled time, in ms. */
export function latenessMs(name: string, startTime: Date | number, phaseFromMs?: number): number {
  const started = typeof startTime === 'number' ? startTime : startTime.getTime();
  if (!Number.isFinite(started)) throw new Error(`startTime of ${name}: not a time`);
  return started - scheduledTimeMs(name, phaseFromMs);
}

/**
 * The p-th percentile (0 < p ≤ 100) by nearest rank: the smallest value with at least p% of
 * the values at or below it. Undefined for no values.
 */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (!(p > 0 && p <= 100)) throw new Error(`percentile: p must be in (0, 100], got ${p}`);
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil((p / 100) * sorted.length) - 1];
}

export interface Summary {
  count: number;
  p50?: number;
  p99?: number;
  max?: number;
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { count: 0 };
  return {
    count: values.length,
    p50: percentile(values, 50)!,
    p99: percentile(values, 99)!,
    max: Math.max(...values),
  };
}

/** One child Migration workflow of a schedule, as Temporal's visibility lists it. */
export interface ChildRun {
  /** The migration's name (the last segment of its workflow id). */
  name: string;
  startTime: number;
  closeTime?: number;
  /** Closed other than completed (failed, terminated, timed out). */
  failed?: boolean;
}

export interface ScheduleOutcome {
  /** Lateness (ms) of every measured trigger that started a migration. */
  lateness: number[];
  /** Lateness (ms) of the schedule's first trigger (it fires at once, on the workflow's clock). */
  first?: number;
  /** Measured triggers the schedule passed without a migration (one still ran, or missed). */
  skipped: number;
  /** Measured triggers the schedule had not reached when the run was collected. */
  notReached: number;
  /** Of those, the oldest one's age at collection (a lower bound of its lateness), ms. */
  notReachedAgeMs?: number;
}

/**
 * What happened to rounds 1..rounds of one interval schedule (round 0 is its first trigger, the
 * grid's anchor). A round without a migration was skipped if the schedule's lastTrigger reached
 * it (the schedule saw it due and passed it), otherwise it was not reached by `collectedAt`.
 */
export function scheduleOutcome(input: {
  children: ChildRun[];
  intervalMs: number;
  rounds: number;
  /** The schedule's lastTrigger (epoch ms) from its status query; undefined when unknown. */
  lastTriggerMs?: number;
  collectedAt: number;
}): ScheduleOutcome {
  const { intervalMs, rounds, lastTriggerMs, collectedAt } = input;
  if (!(intervalMs > 0) || intervalMs % 1000 !== 0)
    throw new Error(`intervalMs: ${intervalMs} is not a positive whole number of seconds`);
  const timed = input.children
    .map((c) => ({ c, at: scheduledTimeMs(c.name, lastTriggerMs) }))
    .sort((a, b) => a.at - b.at);
  if (timed.length === 0) return { lateness: [], skipped: 0, notReached: rounds };
  const anchor = timed[0]!.at;
  const byRound = new Map<number, number>();
  for (const { c, at } of timed) byRound.set(Math.round((at - anchor) / intervalMs), c.startTime - at);
  const out: ScheduleOutcome = { lateness: [], first: byRound.get(0), skipped: 0, notReached: 0 };
  for (let r = 1; r <= rounds; r++) {
    const due = anchor + r * intervalMs;
    const late = byRound.get(r);
    if (late !== undefined) out.lateness.push(late);
    else if (lastTriggerMs !== undefined && lastTriggerMs >= due) out.skipped += 1;
    else {
      out.notReached += 1;
      out.notReachedAgeMs = Math.max(out.notReachedAgeMs ?? 0, collectedAt - due);
    }
  }
  return out;
}

/** `name value` of a Prometheus text exposition (no labels); undefined when absent. */
export function metricValue(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}(?:\\{\\})?\\s+(\\S+)`, 'm').exec(text);
  const v = m ? Number(m[1]) : NaN;
  return Number.isFinite(v) ? v : undefined;
}

export interface ScheduleBenchArgs {
  sizes: number[];
  rounds: number;
  intervalMinutes: number;
  /** Extra `ferry worker` flags, e.g. --max-cached-workflows=2000. */
  workerArgs: string[];
  /** Schedules that migrate (default all); the rest start suspended. */
  active?: number;
  /** Add this run to the results file instead of replacing it. */
  append: boolean;
  /** The setup column of the table (default "<N> schedules"). */
  label?: string;
  out?: string;
  save: boolean;
  /** Leave the environment, worker and workflows running after the run, until Ctrl-C. */
  keep: boolean;
  help: boolean;
}

export const SCHEDULES_USAGE = `usage: npm run bench:schedules -- [options]

  --sizes N,M           schedule counts, one run each (default 100,1000)
  --schedules N         one size (same as --sizes N)
  --rounds R            triggers measured after each schedule's first (default 3)
  --interval-minutes M  the SchedulePolicy's intervalMinutes (default 1)
  --worker-arg FLAG     an extra \`ferry worker\` flag, repeatable (--worker-arg=--max-cached-workflows=2000)
  --active K           only K schedules migrate; the others start suspended and still wake and
                        pass every trigger (offered load K / interval, scheduler load N)
  --label TEXT          the table's setup column (default "<N> schedules")
  --out FILE            where to write the JSON (default bench/results/schedules.json)
  --append              add this run to the results file (default: replace it)
  --no-save             print only
  --keep                leave everything running afterwards (one size only), until Ctrl-C
`;

export function parseScheduleBenchArgs(argv: string[]): ScheduleBenchArgs {
  const a: ScheduleBenchArgs = {
    sizes: [100, 1000],
    rounds: 3,
    intervalMinutes: 1,
    workerArgs: [],
    save: true,
    append: false,
    keep: false,
    help: false,
  };
  const positive = (flag: string, v: string, min = 1): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`${flag}: ${JSON.stringify(v)} is not an integer ≥ ${min}`);
    return n;
  };
  eachFlag(argv, (flag, value, arg) => {
    switch (flag) {
      case '--sizes': {
        const v = value();
        a.sizes = v.split(',').map((s) => positive('--sizes', s.trim()));
        break;
      }
      case '--schedules':
        a.sizes = [positive('--schedules', value())];
        break;
      case '--rounds':
        a.rounds = positive('--rounds', value());
        break;
      case '--interval-minutes':
        a.intervalMinutes = positive('--interval-minutes', value());
        break;
      case '--worker-arg':
        a.workerArgs.push(value());
        break;
      case '--active':
        a.active = positive('--active', value());
        break;
      case '--append':
        a.append = true;
        break;
      case '--label':
        a.label = value();
        break;
      case '--out':
        a.out = value();
        break;
      case '--no-save':
        a.save = false;
        break;
      case '--keep':
        a.keep = true;
        break;
      case '-h':
      case '--help':
        a.help = true;
        break;
      default:
        throw new Error(`unknown argument ${JSON.stringify(arg)}\n${SCHEDULES_USAGE}`);
    }
  });
  if (a.keep && a.sizes.length > 1)
    throw new Error(`--keep: keeps one size only, got --sizes ${a.sizes.join(',')}`);
  return a;
}
