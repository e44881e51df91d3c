export const TOOLS = ['ferry', 'rsync', 'rsync-ssh', 'restic'] as const;
export type Tool = (typeof TOOLS)[number];

export interface BenchArgs {
  sizeMiB: number;
  seed: string;
  workDir?: string;
  keep: boolean;
  tools: Tool[];
  /** Write bench/results/*.json and docs/benchmarks.md (off with --no-save). */
  save: boolean;
  /** Re-run the unchanged scenario under strace to list volume files the Ferry agent reads. */
  verifyReads: boolean;
  /** Measure Ferry right after restarting its agents, without the warm-up replication. */
  coldAgents: boolean;
  /**
   * Ferry takes the snapshot with its own request and then replicates it, as a Migration does
   * (activities/volumes.ts), both inside the measured time; by default the replication takes it.
   */
  snapshotFirst: boolean;
  migration: boolean;
  stream: boolean;
  /** Ferry's destination agent serves its data port in plaintext (`ferry agent --data-plaintext`). */
  dataPlaintext: boolean;
  /** Measure only the first N scenarios (1: the full copy only); undefined: all. */
  scenarios?: number;
  /** Whole benchmark runs, each on a fresh volume and fresh copies; the report takes medians. */
  runs: number;
  help: boolean;
}

export const USAGE = `usage: npm run bench:datapath -- [options]

  --size-mib N       volume size in MiB (default 2048: 10,000 small files + one big file)
  --seed S           dataset seed (default "ferry")
  --tools a,b        tools to measure, of ferry,rsync,rsync-ssh,restic (default all; rsync-ssh
                     is rsync through sshd, encrypted as Ferry's stream is, and needs openssh-server)
  --work-dir DIR     where to put volumes, repositories and logs (default a new folder in the OS temp dir)
  --keep             keep the work dir afterwards
  --no-save          print only; do not write bench/results/ or docs/benchmarks.md
  --cold-agents      restart Ferry's agents before every scenario and measure at once (no warm-up
                     replication; by default the agents run across the scenarios and are warmed up)
  --snapshot-first   Ferry snapshots first, then replicates that snapshot (a Migration's way
                     before the eighteenth session; a client that snapshots on its own)
  --migration        Ferry replicates a Migration's way: its snapshot step starts the replication
                     awaiting confirmation, its transfer step confirms it (activities/volumes.ts)
  --stream           with --migration: send chunks while the snapshot reads (streamDuringSnapshot)
  --data-plaintext   Ferry's destination serves its data port over plain HTTP (ferry agent
                     --data-plaintext), as rsync's daemon does; the control port stays on TLS
  --no-verify-reads  skip the traced re-run of "unchanged" that checks Ferry reads no file contents
  --scenarios N      measure only the first N scenarios (1: the full copy only; they build on each other)
  --runs N           repeat the whole benchmark N times (fresh volume and copies each time) and report
                     each tool's median run per scenario, with the range of wall times (default 1)
`;

/**
 * Walks a benchmark's command line: `fn` gets each flag (`--x=v` split at the '='), a `value()`
 * that takes the flag's value (inline or the next argument; an error naming the flag when there
 * is none) and the argument as written.
 */
export function eachFlag(argv: string[], fn: (flag: string, value: () => string, arg: string) => void): void {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const [flag, inline] = eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    fn(
      flag,
      () => {
        const v = inline ?? argv[++i];
        if (v === undefined) throw new Error(`${flag} needs a value`);
        return v;
      },
      arg,
    );
  }
}

/** A flag's integer value, from `min` (to `max`); an error naming the flag and the value otherwise. */
export function intFlag(flag: string, v: string, min: number, max?: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || (max !== undefined && n > max))
    throw new Error(
      max === undefined
        ? `${flag} must be an integer ≥ ${min}, got ${v}`
        : `${flag} must be an integer from ${min} to ${max}, got ${v}`,
    );
  return n;
}

export function parseArgs(argv: string[]): BenchArgs {
  const a: BenchArgs = {
    sizeMiB: 2048,
    seed: 'ferry',
    keep: false,
    tools: [...TOOLS],
    save: true,
    verifyReads: true,
    coldAgents: false,
    snapshotFirst: false,
    migration: false,
    stream: false,
    dataPlaintext: false,
    runs: 1,
    help: false,
  };
  eachFlag(argv, (flag, value, arg) => {
    switch (flag) {
      case '--size-mib':
        a.sizeMiB = intFlag(flag, value(), 16);
        break;
      case '--seed':
        a.seed = value();
        break;
      case '--tools': {
        const v = value();
        const list = v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        for (const t of list) {
          if (!(TOOLS as readonly string[]).includes(t))
            throw new Error(`--tools: unknown tool "${t}" (known: ${TOOLS.join(', ')})`);
        }
        if (list.length === 0) throw new Error('--tools needs at least one tool');
        a.tools = TOOLS.filter((t) => list.includes(t));
        break;
      }
      case '--work-dir':
        a.workDir = value();
        break;
      case '--keep':
        a.keep = true;
        break;
      case '--no-save':
        a.save = false;
        break;
      case '--cold-agents':
        a.coldAgents = true;
        break;
      case '--snapshot-first':
        a.snapshotFirst = true;
        break;
      case '--migration':
        a.migration = true;
        break;
      case '--stream':
        a.stream = true;
        break;
      case '--data-plaintext':
        a.dataPlaintext = true;
        break;
      case '--no-verify-reads':
        a.verifyReads = false;
        break;
      case '--scenarios':
        a.scenarios = intFlag(flag, value(), 1);
        break;
      case '--runs':
        a.runs = intFlag(flag, value(), 1, 15);
        break;
      case '-h':
      case '--help':
        a.help = true;
        break;
      default:
        throw new Error(`unknown argument "${arg}"\n${USAGE}`);
    }
  });
  if (a.stream && !a.migration) throw new Error('--stream: only with --migration');
  if (a.migration && a.snapshotFirst) throw new Error('--migration and --snapshot-first: choose one path');
  return a;
}
