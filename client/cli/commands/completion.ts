// `completion bash|zsh`: prints the shell completion script (completion.ts) for this program.

import { UsageError, type ParsedArgs } from '../args.js';
import { bashCompletion, zshCompletion } from '../completion.js';
import type { Cli } from '../io.js';
import type { CommandDef } from '../program.js';

const SHELLS = ['bash', 'zsh'];

export function completionHelp(program: string): string {
  return `Print a shell completion script: verbs, resource kinds and flags.

Usage:
  ${program} completion bash|zsh

Examples:
  source <(${program} completion bash)               # this shell
  ${program} completion bash > /etc/bash_completion.d/${program}
  source <(${program} completion zsh)                # in ~/.zshrc
`;
}

async function runCompletion(cli: Cli, args: ParsedArgs): Promise<number> {
  const [shell, ...extra] = args.positionals;
  if (shell === undefined) throw new UsageError('the shell is missing: completion bash|zsh');
  if (!SHELLS.includes(shell)) throw new UsageError(`invalid shell "${shell}": must be bash or zsh`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  // The tree is main.ts's; imported here, when run, since main.ts imports this file.
  const { commands } = await import('../main.js');
  const defs = commands(cli.program);
  cli.out(shell === 'bash' ? bashCompletion(cli.program, defs) : zshCompletion(cli.program, defs));
  return 0;
}

export const completionCommand: CommandDef = {
  name: 'completion',
  summary: 'Print a shell completion script (completion bash|zsh)',
  help: completionHelp,
  run: runCompletion,
  completes: SHELLS,
};
