// The client CLI, shared by the `ferry` and `storkctl` binaries (workers/ferry.ts,
// workers/storkctl.ts). kubectl habits: -f, -o json|yaml, -n, --help; exit 0 ok, 1 error; a
// usage error names the flag and the value. Server roles (`ferry agent`) are routed before this.
//
// Commands: validate, get, generate clusterpair, activate|deactivate migrations, policy next. runCli returns the exit code and never exits itself.

import { UsageError } from './args.js';
import { activateHelp, deactivateHelp, runActivate, runDeactivate } from './commands/activate.js';
import { generateHelp, runGenerate } from './commands/generate.js';
import { getHelp, runGet } from './commands/get.js';
import { policyHelp, runPolicy } from './commands/policy.js';
import { runValidate, validateHelp } from './commands/validate.js';
import { makeCli, type Cli, type CliOptions } from './io.js';

export type { CliOptions, Output } from './io.js';

interface Command {
  summary: string;
  run(cli: Cli, argv: string[]): number | Promise<number>;
  help(program: string): string;
}

const COMMANDS: Record<string, Command> = {
  validate: {
    summary: 'Validate manifests (every error, one per line)',
    run: runValidate,
    help: validateHelp,
  },
  get: {
    summary: 'Display objects from the cluster or from manifests (e.g. get schedulepolicy)',
    run: runGet,
    help: getHelp,
  },
  generate: {
    summary: 'Generate a ClusterPair for the current kubeconfig (generate clusterpair NAME)',
    run: runGenerate,
    help: generateHelp,
  },
  activate: {
    summary: 'Fail over: promote migrated volumes and start migrated apps (activate migrations -n NS)',
    run: runActivate,
    help: activateHelp,
  },
  deactivate: {
    summary: 'Stop migrated apps again: scale to 0, suspend CronJobs (deactivate migrations -n NS)',
    run: runDeactivate,
    help: deactivateHelp,
  },
  policy: {
    summary: 'Schedule policy tools (policy next: the next triggers)',
    run: runPolicy,
    help: policyHelp,
  },
};

export function mainHelp(program: string): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}   ${c.summary}`);
  const agent =
    program === 'ferry'
      ? '\n  agent      Run a storage agent (server role)\n  worker     Run the Temporal worker and controllers (server role)'
      : '';
  return `${program}: asynchronous disaster recovery for Kubernetes, speaking the Stork async-DR API
(stork.libopenstorage.org/v1alpha1).

Usage:
  ${program} COMMAND [ARGS] [FLAGS]

Commands:
${lines.join('\n')}${agent}
  help       Help about a command

Run '${program} COMMAND --help' for a command's flags.
`;
}

export async function runCli(argv: string[], opts: CliOptions): Promise<number> {
  const cli = makeCli(opts);
  const [name, ...rest] = argv;
  if (name === undefined) {
    cli.err(mainHelp(cli.program));
    return 1;
  }
  if (name === '--help' || name === '-h') {
    cli.out(mainHelp(cli.program));
    return 0;
  }
  if (name === 'help') {
    const topic = rest[0];
    if (topic === undefined) {
      cli.out(mainHelp(cli.program));
      return 0;
    }
    const command = COMMANDS[topic];
    if (!command) return usage(cli, `unknown command "${topic}" for "${cli.program} help"`, undefined);
    cli.out(command.help(cli.program));
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    const hint = name.startsWith('-')
      ? `unknown flag: ${name}`
      : `unknown command "${name}" for "${cli.program}"`;
    return usage(cli, hint, undefined);
  }
  try {
    return await command.run(cli, rest);
  } catch (err) {
    if (err instanceof UsageError)
      return usage(cli, err.message, name === 'policy' && rest[0] === 'next' ? 'policy next' : name);
    throw err;
  }
}

function usage(cli: Cli, message: string, command: string | undefined): number {
  cli.err(`error: ${message}\n`);
  cli.err(`Run '${cli.program}${command ? ` ${command}` : ''} --help' for usage.\n`);
  return 1;
}
