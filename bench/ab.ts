// `npm run bench:ab -- --base REV [options]`: is this build faster than REV? Runs the data path
// benchmark (Ferry only) with the two builds alternating, on the same machine in the same hour,
// and prints per scenario the median and range of each build's wall time, CPU-seconds and phases,
// the pairs the head won and the sign test's p for that split (how often noise alone splits the
// pairs at least as unevenly: three pairs never get below 0.25).
//
// Why: on a shared 2-core VM one run's wall time varies by 15-30% (docs/benchmarks.md), more than
// most single changes move it, so a change is judged over interleaved pairs, not against a saved
// table. Each pair runs in the order base-head, the next head-base, so a drift of the machine over
// the session (page-cache pressure, a neighbour) weighs on both.
//
// The base is built from a git worktree of REV (its node_modules a link to this checkout's); the
// head is the current dist/ (run `npm run build` first), copied so a rebuild during the run does
// not change it. Results are read from what bench/datapath prints, so any earlier revision can be
// the base.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../localenv/paths.js';
import {
  AB_USAGE,
  compareRuns,
  formatComparison,
  parseAbArgs,
  parseRun,
  runArgs,
  type AbArgs,
  type RunScenario,
} from './ab-report.js';

function run(cmd: string, args: string[], cwd: string): void {
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
}

/** Runs one benchmark with the build in `dir`; resolves with its parsed rows. */
function benchOnce(dir: string, a: AbArgs, workDir: string, label: string): Promise<RunScenario[]> {
  const args = [path.join(dir, 'dist', 'bench', 'datapath.js'), ...runArgs(a.bench), '--work-dir', workDir];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      for (const line of d.toString().split('\n'))
        if (/scenario \S+: ferry$|ferry: [\d.]+ s wall/.test(line))
          process.stderr.write(`  ${label} ${line.trim()}\n`);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${label}: benchmark exited ${code}\n${err.slice(-2000)}`));
      try {
        resolve(parseRun(out, err));
      } catch (e) {
        reject(new Error(`${label}: ${(e as Error).message}`));
      }
    });
  });
}

async function main(): Promise<void> {
  let a: AbArgs;
  try {
    a = parseAbArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${AB_USAGE}`);
    process.exit(2);
  }
  if (a.help) {
    process.stdout.write(AB_USAGE);
    return;
  }
  const root = repoRoot();
  if (!existsSync(path.join(root, 'dist', 'bench', 'datapath.js')))
    throw new Error('no dist/bench/datapath.js: run `npm run build` first');
  const rev = spawnSync('git', ['rev-parse', '--verify', `${a.base}^{commit}`], {
    cwd: root,
    encoding: 'utf8',
  });
  if (rev.status !== 0) throw new Error(`--base ${a.base}: not a git revision here`);
  const baseRev = rev.stdout.trim();
  if (a.bench.workDir) mkdirSync(a.bench.workDir, { recursive: true });
  const work = mkdtempSync(path.join(a.bench.workDir ?? os.tmpdir(), 'ferry-ab-'));
  const baseDir = path.join(work, 'base');
  const headDir = path.join(work, 'head');
  const runs = path.join(work, 'runs');
  mkdirSync(runs);
  try {
    process.stderr.write(
      `[ab] head: a copy of dist/; base: ${a.base} (${baseRev.slice(0, 10)}) built in ${baseDir}\n`,
    );
    mkdirSync(headDir);
    cpSync(path.join(root, 'dist'), path.join(headDir, 'dist'), { recursive: true });
    cpSync(path.join(root, 'package.json'), path.join(headDir, 'package.json'));
    symlinkSync(path.join(root, 'node_modules'), path.join(headDir, 'node_modules'));
    run('git', ['worktree', 'add', '--detach', '--quiet', baseDir, baseRev], root);
    symlinkSync(path.join(root, 'node_modules'), path.join(baseDir, 'node_modules'));
    run(
      process.execPath,
      [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
      baseDir,
    );
    const base: RunScenario[][] = [];
    const head: RunScenario[][] = [];
    for (let k = 0; k < a.pairs; k++) {
      const order: Array<['base' | 'head', string]> =
        k % 2 === 0
          ? [
              ['base', baseDir],
              ['head', headDir],
            ]
          : [
              ['head', headDir],
              ['base', baseDir],
            ];
      for (const [label, dir] of order) {
        process.stderr.write(`[ab] pair ${k + 1} of ${a.pairs}: ${label}\n`);
        const rows = await benchOnce(dir, a, runs, label);
        (label === 'base' ? base : head).push(rows);
      }
    }
    process.stdout.write(
      `\nFerry data path, ${a.bench.sizeMiB} MiB, ${a.pairs} pair(s): ${a.base} (${baseRev.slice(0, 10)}) against the current build\n\n`,
    );
    process.stdout.write(`${formatComparison(compareRuns(base, head), 'base')}\n`);
  } finally {
    spawnSync('git', ['worktree', 'remove', '--force', baseDir], { cwd: root });
    if (!a.bench.keep) rmSync(work, { recursive: true, force: true });
    else process.stderr.write(`[ab] kept ${work}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:ab: ${(err as Error).message}\n`);
  process.exit(1);
});
