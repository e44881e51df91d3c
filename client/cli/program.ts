// The CLI's command tree on commander: one CommandDef per verb (client/cli/commands/*), each with
// its flags as FlagSpecs (one source for parsing, help and shell completion) and a run function
// that gets the parsed flags and positionals. Commander parses, dispatches and suggests; this file
// makes its errors read as kubectl's (`error: unknown flag: --frob (did you mean --from?)`,
// `Run 'ferry get --help' for usage.`) and turns every outcome into an exit code (0 ok, 1 error).
//
//   const code = await runProgram(cli, DEFS, ['get', 'migrations', '-n', 'mysql']);

import { Command, CommanderError, Option } from 'commander';
import { HELP_FLAG, UsageError, type FlagSpec, type ParsedArgs } from './args.js';
import type { Cli } from './io.js';

export interface CommandDef {
  name: string;
  aliases?: string[];
  /** One line for the parent's command list. */
  summary: string;
  flags?: FlagSpec[];
  /** The whole `--help` text. */
  help(program: string): string;
  /** A leaf's work; a command with subcommands has none. */
  run?(cli: Cli, args: ParsedArgs): number | Promise<number>;
  subcommands?: CommandDef[];
  /** Listed in help but run elsewhere (`ferry agent`, `ferry worker`). */
  external?: boolean;
  /** What completes the first positional (e.g. resource names). */
  completes?: readonly string[];
}

/** The command path named by argv's leading words, and the words left. */
export function findPath(defs: readonly CommandDef[], argv: readonly string[]): [CommandDef[], string[]] {
  const path: CommandDef[] = [];
  let level = defs;
  let i = 0;
  for (; i < argv.length; i++) {
    const def = level.find((d) => d.name === argv[i] || (d.aliases ?? []).includes(argv[i]!));
    if (!def) break;
    path.push(def);
    level = def.subcommands ?? [];
    if (level.length === 0) {
      i++;
      break;
    }
  }
  return [path, argv.slice(i)];
}

/**
 * kubectl forms commander does not take: `-f=FILE` (a short flag with `=`) and `--flag=true|false`
 * on a boolean flag. Anything else passes through.
 */
export function normalizeFlags(argv: readonly string[], specs: readonly FlagSpec[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const m = /^(--?)([^=]+)=(.*)$/s.exec(arg);
    const spec = m
      ? specs.find((s) =>
          m[1] === '--' ? s.name === m[2] : s.short === m[2] || (s.shortAliases ?? []).includes(m[2]!),
        )
      : undefined;
    if (!m || !spec) {
      out.push(arg);
      continue;
    }
    const flag = `${m[1]}${m[2]}`;
    if (spec.value !== undefined) out.push(flag, m[3]!);
    else if (m[3] === 'true') out.push(flag);
    else if (m[3] !== 'false')
      throw new UsageError(`invalid value "${m[3]}" for ${flag}: must be true or false`);
  }
  return out;
}

function addFlag(cmd: Command, spec: FlagSpec, path: string): void {
  const flags = `${spec.short ? `-${spec.short}, ` : ''}--${spec.name}${spec.value ? ` <${spec.value}>` : ''}`;
  const option = new Option(flags, spec.help);
  if (spec.value !== undefined) {
    option.argParser((value: string, previous: unknown) => {
      if (previous === undefined) return [value];
      if (!spec.repeatable) {
        const err = new UsageError(`flag --${spec.name} given more than once`);
        err.command = path;
        throw err;
      }
      return [...(previous as string[]), value];
    });
  }
  cmd.addOption(option);
  for (const alias of spec.shortAliases ?? []) cmd.addOption(new Option(`-${alias}`).hideHelp());
}

function parsedArgs(cmd: Command, specs: readonly FlagSpec[], positionals: string[]): ParsedArgs {
  const opts = cmd.opts<Record<string, unknown>>();
  const flags = new Map<string, string[]>();
  for (const spec of specs) {
    const option = cmd.options.find((o) => o.long === `--${spec.name}`)!;
    const v = opts[option.attributeName()];
    const aliased = (spec.shortAliases ?? []).some((a) => opts[a] === true);
    if (Array.isArray(v)) flags.set(spec.name, v as string[]);
    else if (v === true || aliased) flags.set(spec.name, ['true']);
  }
  return { flags, positionals, help: false };
}

/** kubectl's wording for commander's errors. */
export function translateError(message: string, program: string, path: string): string {
  const text = message.trim();
  let m = /^error: unknown option '(.+?)'(?:\n\(Did you mean (.+?)\?\))?$/s.exec(text);
  if (m) return `error: unknown flag: ${m[1]}${m[2] ? ` (did you mean ${m[2]}?)` : ''}`;
  m = /^error: option '(.+?)' argument missing$/.exec(text);
  if (m) {
    const long = /--[\w-]+/.exec(m[1]!)?.[0] ?? m[1];
    return `error: flag needs an argument: ${long}`;
  }
  m = /^error: unknown command '(.+?)'(?:\n\(Did you mean (.+?)\?\))?$/s.exec(text);
  if (m)
    return `error: unknown command "${m[1]}" for "${[program, path].filter(Boolean).join(' ')}"${
      m[2] ? `\n\nDid you mean this?\n\t${m[2]}\n` : ''
    }`;
  return text;
}

function build(
  cli: Cli,
  def: CommandDef,
  parent: Command | undefined,
  path: string[],
  state: State,
): Command {
  const cmd = parent ? parent.command(def.name) : new Command(cli.program);
  const here = path.join(' ');
  cmd
    .summary(def.summary)
    .description(def.summary)
    .helpOption(`-${HELP_FLAG.short}, --${HELP_FLAG.name}`, HELP_FLAG.help)
    .configureHelp({ formatHelp: () => def.help(cli.program) })
    .configureOutput({
      writeOut: (s) => cli.out(s),
      writeErr: (s) => cli.err(s),
      outputError: (s, write) => {
        write(`${translateError(s, cli.program, here)}\n`);
        write(`Run '${[cli.program, ...path].join(' ')} --help' for usage.\n`);
      },
    })
    .exitOverride()
    .showSuggestionAfterError(true);
  for (const alias of def.aliases ?? []) cmd.alias(alias);
  if (def.external) {
    cmd.allowUnknownOption().allowExcessArguments().helpOption(false);
    cmd.action(() => {
      throw new UsageError(`"${def.name}" is a server role of the ferry binary: run "ferry ${def.name}"`);
    });
    return cmd;
  }
  const specs = def.flags ?? [];
  for (const spec of specs) addFlag(cmd, spec, here);
  for (const sub of def.subcommands ?? []) build(cli, sub, cmd, [...path, sub.name], state);
  if (def.run) {
    const run = def.run;
    cmd.argument('[args...]').allowExcessArguments();
    cmd.action(async (positionals: string[], _opts: unknown, self: Command) => {
      state.path = here;
      state.code = await run(cli, parsedArgs(self, specs, positionals));
    });
  }
  return cmd;
}

interface State {
  path: string;
  code: number;
}

/** Runs the CLI over `defs` (the top-level verbs) and returns the exit code. */
export async function runProgram(cli: Cli, root: CommandDef, argv: readonly string[]): Promise<number> {
  const state: State = { path: '', code: 0 };
  const program = build(cli, root, undefined, [], state);
  program.helpCommand('help [command]', 'Help about a command');
  try {
    const [path, rest] = findPath(root.subcommands ?? [], argv);
    const leaf = path[path.length - 1];
    state.path = path.map((d) => d.name).join(' ');
    const args = leaf?.flags
      ? [...argv.slice(0, argv.length - rest.length), ...normalizeFlags(rest, leaf.flags)]
      : [...argv];
    await program.parseAsync(args, { from: 'user' });
    return state.code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 1;
    if (err instanceof UsageError) {
      const at = err.command ?? state.path;
      cli.err(`error: ${err.message}\n`);
      cli.err(`Run '${[cli.program, at].filter(Boolean).join(' ')} --help' for usage.\n`);
      return 1;
    }
    throw err;
  }
}
