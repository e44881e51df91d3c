// Flag specs shared by the CLI (parsed by commander, client/cli/program.ts) and the server roles
// (`ferry worker`, `ferry agent`), which parse them with the small kubectl-style parser below:
// `-f FILE`, `-f=FILE`, `--filename FILE`, `--filename=FILE`, repeatable flags, `--` ends flags.
// Problems are UsageErrors that name the flag and the value.

export class UsageError extends Error {
  /** The command path whose help to point at (e.g. "policy next"), when not the one running. */
  command?: string;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface FlagSpec {
  /** Long name without dashes, e.g. "filename". */
  name: string;
  short?: string;
  /** Other one-letter names, e.g. -A beside -a (not shown in help). */
  shortAliases?: string[];
  /** Placeholder shown in help; a flag without one is boolean. */
  value?: string;
  repeatable?: boolean;
  help: string;
}

export interface ParsedArgs {
  flags: Map<string, string[]>;
  positionals: string[];
  help: boolean;
}

export const HELP_FLAG: FlagSpec = { name: 'help', short: 'h', help: 'Show this help.' };

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const all = [...specs, HELP_FLAG];
  const flags = new Map<string, string[]>();
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const long = arg.startsWith('--');
    const body = arg.slice(long ? 2 : 1);
    const eq = body.indexOf('=');
    const key = eq >= 0 ? body.slice(0, eq) : body;
    const spec = all.find((s) =>
      long ? s.name === key : s.short === key || (s.shortAliases ?? []).includes(key),
    );
    if (!spec) throw new UsageError(`unknown flag: ${long ? '--' : '-'}${key}`);
    if (spec === HELP_FLAG) {
      help = true;
      continue;
    }
    const shown = long ? `--${spec.name}` : `-${key}`;
    let value: string;
    if (spec.value === undefined) {
      if (eq >= 0) {
        const v = body.slice(eq + 1);
        if (v !== 'true' && v !== 'false')
          throw new UsageError(`invalid value "${v}" for ${shown}: must be true or false`);
        value = v;
      } else value = 'true';
    } else if (eq >= 0) value = body.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new UsageError(`flag needs an argument: ${shown}`);
      value = next;
      i++;
    }
    const seen = flags.get(spec.name) ?? [];
    if (seen.length > 0 && !spec.repeatable) throw new UsageError(`flag ${shown} given more than once`);
    flags.set(spec.name, [...seen, value]);
  }
  return { flags, positionals, help };
}

export function flagValue(args: ParsedArgs, name: string): string | undefined {
  return args.flags.get(name)?.[0];
}

export function formatFlags(specs: readonly FlagSpec[]): string {
  const rows = [...specs, HELP_FLAG].map((s) => {
    const names = `${s.short ? `-${s.short}, ` : '    '}--${s.name}${s.value ? ` ${s.value}` : ''}`;
    return [names, s.help] as const;
  });
  const width = Math.max(...rows.map(([n]) => n.length));
  return rows.map(([n, h]) => `  ${n.padEnd(width)}   ${h}`).join('\n');
}
