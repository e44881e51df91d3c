// `policy next -f FILE [--name NAME] [--after ISO-8601] [--count K] [-o json]`: the next K
// triggers of a schedule policy after a time (default now), merged across its types and sorted.
// Text: one `<type> <ISO time in UTC>` per line. JSON: [{"policy":"daily","time":"..."}, ...].
// Interval triggers are counted from --after: the first is --after + intervalMinutes.

import { DateTime } from 'luxon';
import type { NamespacedSchedulePolicy, SchedulePolicy } from '../../../api/index.js';
import { nextTriggers } from '../../../schedule/index.js';
import { flagValue, formatFlags, UsageError, type FlagSpec, type ParsedArgs } from '../args.js';
import { loadManifests, type Cli } from '../io.js';
import type { CommandDef } from '../program.js';
import { FILENAME_FLAG } from './validate.js';

const DEFAULT_COUNT = 10;
const MAX_COUNT = 100_000;

const NEXT_FLAGS: FlagSpec[] = [
  FILENAME_FLAG,
  { name: 'name', value: 'NAME', help: 'The policy to use; required when the files hold several.' },
  {
    name: 'after',
    value: 'TIME',
    help: 'List triggers strictly after this ISO-8601 time (default now; no offset means UTC).',
  },
  { name: 'count', value: 'K', help: `How many triggers to list (default ${DEFAULT_COUNT}).` },
  {
    name: 'output',
    short: 'o',
    value: 'FORMAT',
    help: 'Output format: json (default: one "<type> <time>" per line).',
  },
];

export function policyHelp(program: string): string {
  return `Schedule policy tools.

Usage:
  ${program} policy next -f FILE [--name NAME] [--after TIME] [--count K] [-o json]

Commands:
  next   List the next triggers of a schedule policy, merged across its types.

Run '${program} policy next --help' for its flags.
`;
}

export function policyNextHelp(program: string): string {
  return `List the next K triggers of a SchedulePolicy (or NamespacedSchedulePolicy) strictly after
a time, merged across its types (interval, daily, weekly, monthly) and sorted; triggers at the
same instant are listed interval, daily, weekly, monthly. Times are printed in UTC. Daily,
weekly and monthly times are in the policy's timezone (default UTC). Interval triggers are
counted from --after: the first is --after + intervalMinutes.

Usage:
  ${program} policy next -f FILE [--name NAME] [--after TIME] [--count K] [-o json]

Examples:
  ${program} policy next -f policy.yaml --after 2026-01-01T00:00:00Z --count 5
  ${program} policy next -f policies.yaml --name nightly -o json

Flags:
${formatFlags(NEXT_FLAGS)}
`;
}

function parseAfter(text: string | undefined, now: number): DateTime {
  if (text === undefined || text === 'now') return DateTime.fromMillis(now, { zone: 'utc' });
  const t = DateTime.fromISO(text, { zone: 'utc' });
  if (!t.isValid) {
    throw new UsageError(
      `invalid value "${text}" for --after: not an ISO-8601 time (e.g. 2026-02-27T22:00:00Z)`,
    );
  }
  return t;
}

function parseCount(text: string | undefined): number {
  if (text === undefined) return DEFAULT_COUNT;
  if (!/^[0-9]+$/.test(text) || Number(text) < 1 || Number(text) > MAX_COUNT) {
    throw new UsageError(
      `invalid value "${text}" for --count: must be an integer between 1 and ${MAX_COUNT}`,
    );
  }
  return Number(text);
}

function runNext(cli: Cli, args: ParsedArgs): number {
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
  const format = flagValue(args, 'output');
  if (format !== undefined && format !== 'json') {
    throw new UsageError(`invalid value "${format}" for -o/--output: allowed formats are json`);
  }
  const after = parseAfter(flagValue(args, 'after'), cli.now());
  const count = parseCount(flagValue(args, 'count'));
  const files = args.flags.get('filename') ?? [];
  const loaded = loadManifests(cli, files);
  if (loaded.errors.length > 0) {
    for (const e of loaded.errors) cli.err(`${e}\n`);
    return 1;
  }
  const policies = loaded.objects
    .map((v) => v.object)
    .filter(
      (o): o is SchedulePolicy | NamespacedSchedulePolicy =>
        o.kind === 'SchedulePolicy' || o.kind === 'NamespacedSchedulePolicy',
    );
  const names = policies.map((p) => p.metadata.name);
  const wanted = flagValue(args, 'name');
  let policy: SchedulePolicy | NamespacedSchedulePolicy | undefined;
  if (wanted !== undefined) {
    policy = policies.find((p) => p.metadata.name === wanted);
    if (!policy) {
      throw new UsageError(
        `invalid value "${wanted}" for --name: no schedule policy of that name in the given files` +
          (names.length ? ` (found: ${names.join(', ')})` : ''),
      );
    }
  } else if (policies.length === 1) policy = policies[0];
  else if (policies.length === 0)
    throw new UsageError('no SchedulePolicy or NamespacedSchedulePolicy in the given files');
  else
    throw new UsageError(
      `the files hold ${policies.length} schedule policies (${names.join(', ')}): choose one with --name`,
    );

  const triggers = nextTriggers(policy!.policy, after, count).map((t) => ({
    policy: t.policy,
    time: new Date(t.time.toMillis()).toISOString(),
  }));
  if (format === 'json') cli.out(`${JSON.stringify(triggers, null, 2)}\n`);
  else for (const t of triggers) cli.out(`${t.policy} ${t.time}\n`);
  return 0;
}

export const policyCommand: CommandDef = {
  name: 'policy',
  summary: 'Schedule policy tools (policy next: the next triggers)',
  help: policyHelp,
  subcommands: [
    {
      name: 'next',
      summary: 'List the next triggers of a schedule policy, merged across its types',
      flags: NEXT_FLAGS,
      help: policyNextHelp,
      run: runNext,
    },
  ],
};
