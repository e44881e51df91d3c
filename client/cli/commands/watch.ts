// `watch migration NAME [-n NS]`: follows a migration through the SDK's progress stream (its
// workflow's status query plus the running transfers' heartbeats) until it ends. On a terminal
// the status and a line per volume (bytes, rate, ETA) are redrawn in place; in a pipe, plain lines
// per change (progress.ts). Exit 0 when it ends Successful, 1 when Failed or PartialSuccess.

import { FerryError, type MigrationProgress } from '../../sdk.js';
import { flagValue, formatFlags, UsageError, type FlagSpec, type ParsedArgs } from '../args.js';
import type { Cli } from '../io.js';
import { finalLine, newRates, pipeLines, redraw, terminalLines } from '../progress.js';
import type { CommandDef } from '../program.js';
import { CLI_TEMPORAL_FLAGS, connectFromFlags } from '../temporal-flags.js';

const MIGRATION_NAMES = ['migration', 'migrations'];
/** How long a migration's workflow may take to appear (a CR just applied). */
const APPEAR_MS = 15_000;

const FLAGS: FlagSpec[] = [
  {
    name: 'namespace',
    short: 'n',
    value: 'NAMESPACE',
    help: 'Namespace of the migration (default "default").',
  },
  { name: 'interval', value: 'SECONDS', help: 'Seconds between two samples (default 1).' },
  ...CLI_TEMPORAL_FLAGS,
];

export function watchHelp(program: string): string {
  return `Follow a migration until it ends. On a terminal: its stage and a live line per volume (bytes,
rate, ETA), redrawn in place; in a pipe: a line per stage, status or volume change. Ends with
"Migration NAME completed successfully" (exit 0) or "Migration NAME failed" (exit 1).

Usage:
  ${program} watch migration NAME [-n NAMESPACE] [--interval SECONDS]

Examples:
  ${program} watch migration mysql-now -n mysql

Flags:
${formatFlags(FLAGS)}
`;
}

async function runWatch(cli: Cli, args: ParsedArgs): Promise<number> {
  const [what, name, ...extra] = args.positionals;
  if (what === undefined) throw new UsageError('what to watch is missing: watch migration NAME');
  if (!MIGRATION_NAMES.includes(what)) throw new UsageError(`cannot watch "${what}": only migration`);
  if (name === undefined) throw new UsageError('the migration name is missing: watch migration NAME');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const intervalText = flagValue(args, 'interval') ?? '1';
  const interval = Number(intervalText);
  if (!Number.isFinite(interval) || interval <= 0 || interval > 3600)
    throw new UsageError(
      `invalid value "${intervalText}" for --interval: must be a number of seconds in (0, 3600]`,
    );
  const namespace = flagValue(args, 'namespace') ?? 'default';
  try {
    const ferry = await connectFromFlags(args);
    try {
      const deadline = Date.now() + APPEAR_MS;
      for (;;) {
        try {
          return await follow(
            cli,
            name,
            ferry.migrationProgress(namespace, name, { intervalMs: interval * 1000 }),
          );
        } catch (err) {
          if (!(err instanceof FerryError && err.kind === 'not-found' && Date.now() < deadline)) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    } finally {
      await ferry.close();
    }
  } catch (err) {
    if (!(err instanceof FerryError)) throw err;
    cli.err(`error: watch migration ${namespace}/${name}: ${err.message}\n`);
    return 1;
  }
}

async function follow(cli: Cli, name: string, progress: AsyncIterable<MigrationProgress>): Promise<number> {
  const rates = newRates();
  const seen = new Map<string, string>();
  let drawn = 0;
  for await (const p of progress) {
    if (cli.tty) {
      const lines = terminalLines(name, p, rates);
      cli.out(redraw(drawn, lines));
      drawn = lines.length;
    } else for (const line of pipeLines(name, p, seen)) cli.out(`${line}\n`);
    if (p.final) {
      const end = finalLine(name, p);
      cli.out(`${end.line}\n`);
      if (end.reason) cli.err(`reason: ${end.reason}\n`);
      return end.code;
    }
  }
  return 1;
}

export const watchCommand: CommandDef = {
  name: 'watch',
  summary: 'Follow a migration until it ends: stages, live bytes per volume (watch migration NAME)',
  flags: FLAGS,
  help: watchHelp,
  run: runWatch,
  completes: MIGRATION_NAMES,
};
