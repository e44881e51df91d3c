// `suspend|resume migrationschedules NAME... [-n NS]`: sets the schedules' spec.suspend with a
// merge patch on the cluster of --kubeconfig, as storkctl does; the worker's controller hands the
// new spec to the schedule's workflow (`updateSpec`). Prints
// `MigrationSchedule <name> suspended successfully` (or `resumed`) per schedule; a schedule that
// does not exist is an error naming it, the others are still changed, and the exit code is 1.

import { KINDS as API_KINDS } from '../../../api/index.js';
import { KubeError } from '../../../kube/client.js';
import { ClusterError, kubeClient, resourceKind } from '../../cluster.js';
import { flagValue, formatFlags, UsageError, type FlagSpec, type ParsedArgs } from '../args.js';
import type { Cli } from '../io.js';
import type { CommandDef } from '../program.js';
import { KUBECONFIG_FLAGS } from './get.js';

const SCHEDULE = resourceKind(API_KINDS.find((k) => k.kind === 'MigrationSchedule')!);
export const SCHEDULE_NAMES = ['migrationschedules', 'migrationschedule'];

const FLAGS: FlagSpec[] = [
  { name: 'namespace', short: 'n', value: 'NAMESPACE', help: 'Namespace of the schedules.' },
  ...KUBECONFIG_FLAGS,
];

type Verb = 'suspend' | 'resume';

function help(verb: Verb) {
  return (
    program: string,
  ) => `${verb === 'suspend' ? 'Suspend' : 'Resume'} migration schedules: set their spec.suspend to ${verb === 'suspend'}. ${
    verb === 'suspend'
      ? 'Triggers pass\nwithout a migration until they are resumed; a migration already running finishes.'
      : 'The schedule\ncontinues on its grid (triggers missed meanwhile do not fire).'
  }

Usage:
  ${program} ${verb} migrationschedules NAME... [-n NAMESPACE] [--kubeconfig FILE]

Examples:
  ${program} ${verb} migrationschedules mysql-sched -n mysql

Flags:
${formatFlags(FLAGS)}
`;
}

async function run(cli: Cli, args: ParsedArgs, verb: Verb): Promise<number> {
  const [what, ...names] = args.positionals;
  if (what === undefined) throw new UsageError(`what to ${verb} is missing: ${verb} migrationschedules NAME`);
  if (!SCHEDULE_NAMES.includes(what))
    throw new UsageError(`cannot ${verb} "${what}": only migrationschedules`);
  if (names.length === 0)
    throw new UsageError(`the schedule name is missing: ${verb} migrationschedules NAME`);
  let code = 0;
  try {
    const { kube, namespace } = kubeClient(
      { kubeconfig: flagValue(args, 'kubeconfig'), context: flagValue(args, 'context') },
      flagValue(args, 'namespace'),
    );
    for (const name of names) {
      try {
        await kube.mergePatch(SCHEDULE, namespace, name, { spec: { suspend: verb === 'suspend' } });
        cli.out(`MigrationSchedule ${name} ${verb === 'suspend' ? 'suspended' : 'resumed'} successfully\n`);
      } catch (err) {
        if (!(err instanceof KubeError)) throw err;
        cli.err(
          err.notFound
            ? `error: migrationschedule ${name} not found in namespace ${namespace}\n`
            : `error: ${verb} migrationschedule ${name}: ${err.message}\n`,
        );
        code = 1;
      }
    }
  } catch (err) {
    if (!(err instanceof ClusterError || err instanceof KubeError)) throw err;
    cli.err(`error: ${err.message}\n`);
    return 1;
  }
  return code;
}

export const suspendCommand: CommandDef = {
  name: 'suspend',
  summary: 'Suspend migration schedules (suspend migrationschedules NAME...)',
  flags: FLAGS,
  help: help('suspend'),
  run: (cli, args) => run(cli, args, 'suspend'),
  completes: SCHEDULE_NAMES,
};

export const resumeCommand: CommandDef = {
  name: 'resume',
  summary: 'Resume suspended migration schedules (resume migrationschedules NAME...)',
  flags: FLAGS,
  help: help('resume'),
  run: (cli, args) => run(cli, args, 'resume'),
  completes: SCHEDULE_NAMES,
};
