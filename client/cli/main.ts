// The client CLI, shared by the `ferry` and `storkctl` binaries (workers/ferry.ts,
// workers/storkctl.ts). kubectl habits: -f, -o json|yaml|wide, -n, -A, --help; exit 0 ok, 1 error;
// a usage error names the flag and the value, a mistyped verb or flag gets a suggestion. Server
// roles (`ferry agent`, `ferry worker`) are routed before this and only listed here.
//
// The verbs are CommandDefs (commands/*), parsed and dispatched by commander (program.ts).
// runCli returns the exit code and never exits itself.

import { activateCommand, deactivateCommand } from './commands/activate.js';
import { completionCommand } from './commands/completion.js';
import { describeCommand } from './commands/describe.js';
import { generateCommand } from './commands/generate.js';
import { getCommand } from './commands/get.js';
import { policyCommand } from './commands/policy.js';
import { resumeCommand, suspendCommand } from './commands/suspend.js';
import { triggerCommand } from './commands/trigger.js';
import { validateCommand } from './commands/validate.js';
import { watchCommand } from './commands/watch.js';
import { makeCli, type CliOptions } from './io.js';
import { runProgram, type CommandDef } from './program.js';

export type { CliOptions, Output } from './io.js';

const SERVER_ROLES: CommandDef[] = [
  { name: 'agent', summary: 'Run a storage agent (server role)', help: () => '', external: true },
  {
    name: 'worker',
    summary: 'Run the Temporal worker and controllers (server role)',
    help: () => '',
    external: true,
  },
];

/** Every verb, in the order help lists them. */
export function commands(program: 'ferry' | 'storkctl'): CommandDef[] {
  return [
    validateCommand,
    getCommand,
    describeCommand,
    watchCommand,
    generateCommand,
    activateCommand,
    deactivateCommand,
    suspendCommand,
    resumeCommand,
    triggerCommand,
    policyCommand,
    completionCommand,
    ...(program === 'ferry' ? SERVER_ROLES : []),
  ];
}

export function mainHelp(program: 'ferry' | 'storkctl'): string {
  const list = commands(program);
  const width = Math.max(...list.map((c) => c.name.length), 'help'.length);
  const lines = list.map((c) => `  ${c.name.padEnd(width)}   ${c.summary}`);
  return `${program}: asynchronous disaster recovery for Kubernetes, speaking the Stork async-DR API
(stork.libopenstorage.org/v1alpha1).

Usage:
  ${program} COMMAND [ARGS] [FLAGS]

Commands:
${lines.join('\n')}
  ${'help'.padEnd(width)}   Help about a command

Run '${program} COMMAND --help' for a command's flags.
`;
}

export function rootCommand(program: 'ferry' | 'storkctl'): CommandDef {
  return {
    name: program,
    summary: 'asynchronous disaster recovery for Kubernetes',
    help: () => mainHelp(program),
    subcommands: commands(program),
  };
}

export async function runCli(argv: string[], opts: CliOptions): Promise<number> {
  const cli = makeCli(opts);
  return runProgram(cli, rootCommand(cli.program), argv);
}
