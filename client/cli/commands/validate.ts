// `validate -f FILE...`: every document of every file, every problem at once.
// Exit 0 when all are valid (valid objects listed on stdout); exit 1 with every error on
// stderr, one per line: `<Kind>/<name>: <field path>: <message>`. Warnings never fail.

import { UsageError, formatFlags, type FlagSpec, type ParsedArgs } from '../args.js';
import { loadManifests, printProblems, type Cli } from '../io.js';
import type { CommandDef } from '../program.js';

export const FILENAME_FLAG: FlagSpec = {
  name: 'filename',
  short: 'f',
  value: 'FILE',
  repeatable: true,
  help: 'Manifest file, directory of *.yaml/*.yml/*.json, or - for stdin (repeatable).',
};

const FLAGS: FlagSpec[] = [FILENAME_FLAG];

export function validateHelp(program: string): string {
  return `Validate stork.libopenstorage.org/v1alpha1 manifests (ClusterPair, SchedulePolicy,
NamespacedSchedulePolicy, MigrationSchedule, Migration, Rule, ResourceTransformation) without
a cluster.

Every document of every file is checked; all errors are printed, one per line, as
  <Kind>/<name>: <field path>: <message>
and the exit code is 1. Warnings (e.g. a MigrationSchedule naming a policy not in the files, or a
Stork field Ferry accepts but ignores) are printed to stderr and do not fail.

Usage:
  ${program} validate -f FILE [-f FILE...]

Flags:
${formatFlags(FLAGS)}
`;
}

export function runValidate(cli: Cli, args: ParsedArgs): number {
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
  const loaded = loadManifests(cli, args.flags.get('filename') ?? []);
  printProblems(cli, loaded);
  if (loaded.errors.length > 0) return 1;
  for (const { object } of loaded.objects) cli.out(`${object.kind}/${object.metadata.name}: valid\n`);
  return 0;
}

export const validateCommand: CommandDef = {
  name: 'validate',
  summary: 'Validate manifests (every error, one per line)',
  flags: FLAGS,
  help: validateHelp,
  run: runValidate,
};
