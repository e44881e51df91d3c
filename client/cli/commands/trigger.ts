// `trigger migrationschedule NAME [-n NS] [--type interval|daily|weekly|monthly]`: starts one of the
// schedule's migrations now, through the schedule workflow's `triggerNow` update (the SDK), and
// prints the new migration's name. A refusal (one of its migrations still runs, no spec yet, no
// such schedule) prints the reason and exits 1.

import { POLICY_TYPES, type PolicyType } from '../../../schedule/policy-types.js';
import { FerryError } from '../../sdk.js';
import { flagValue, formatFlags, UsageError, type FlagSpec, type ParsedArgs } from '../args.js';
import type { Cli } from '../io.js';
import type { CommandDef } from '../program.js';
import { CLI_TEMPORAL_FLAGS, connectFromFlags } from '../temporal-flags.js';
import { SCHEDULE_NAMES } from './suspend.js';

const FLAGS: FlagSpec[] = [
  {
    name: 'namespace',
    short: 'n',
    value: 'NAMESPACE',
    help: 'Namespace of the schedule (default "default").',
  },
  {
    name: 'type',
    value: 'TYPE',
    help: "The policy type the migration is named for: interval, daily, weekly or monthly (default: the policy's first).",
  },
  ...CLI_TEMPORAL_FLAGS,
];

export function triggerHelp(program: string): string {
  return `Start a migration of a schedule now, outside its policy (the schedule workflow's triggerNow
update). Prints the new migration's name. Refused while one of the schedule's migrations runs.

Usage:
  ${program} trigger migrationschedule NAME [-n NAMESPACE] [--type TYPE]

Examples:
  ${program} trigger migrationschedule mysql-sched -n mysql
  TEMPORAL_ADDRESS=temporal:7233 FERRY_TASK_QUEUE=ferry ${program} trigger migrationschedule mysql-sched -n mysql

Flags:
${formatFlags(FLAGS)}
`;
}

async function runTrigger(cli: Cli, args: ParsedArgs): Promise<number> {
  const [what, name, ...extra] = args.positionals;
  if (what === undefined) throw new UsageError('what to trigger is missing: trigger migrationschedule NAME');
  if (!SCHEDULE_NAMES.includes(what))
    throw new UsageError(`cannot trigger "${what}": only migrationschedule`);
  if (name === undefined)
    throw new UsageError('the schedule name is missing: trigger migrationschedule NAME');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const type = flagValue(args, 'type');
  if (type !== undefined && !POLICY_TYPES.includes(type as PolicyType))
    throw new UsageError(`invalid value "${type}" for --type: must be one of ${POLICY_TYPES.join(', ')}`);
  const namespace = flagValue(args, 'namespace') ?? 'default';
  try {
    const ferry = await connectFromFlags(args);
    try {
      const migration = await ferry.triggerSchedule(namespace, name, type as PolicyType | undefined);
      cli.out(`${migration}\n`);
      return 0;
    } finally {
      await ferry.close();
    }
  } catch (err) {
    if (!(err instanceof FerryError)) throw err;
    cli.err(`error: trigger migrationschedule ${namespace}/${name}: ${err.message}\n`);
    return 1;
  }
}

export const triggerCommand: CommandDef = {
  name: 'trigger',
  summary: 'Start a migration of a schedule now (trigger migrationschedule NAME)',
  flags: FLAGS,
  help: triggerHelp,
  run: runTrigger,
  completes: SCHEDULE_NAMES,
};
