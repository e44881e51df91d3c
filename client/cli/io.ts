// Where the CLI writes and what it reads: output streams (replaceable in tests), the clock, and
// the manifests named by -f (files, directories of *.yaml/*.yml/*.json, or - for stdin).

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  formatIssue,
  formatYamlProblem,
  parseYamlDocuments,
  validateDocuments,
  type RawDocument,
  type ValidatedObject,
} from '../../api/index.js';
import { UsageError } from './args.js';

export interface Output {
  write(chunk: string): unknown;
}

export interface CliOptions {
  program: 'ferry' | 'storkctl';
  stdout?: Output;
  stderr?: Output;
  /** The clock, for `policy next` without --after (default Date.now). */
  now?: () => number;
  /** What `-f -` reads (default: the process's standard input). */
  stdin?: () => string;
  /** Whether stdout is a terminal (live redraws); default: process.stdout's isTTY when stdout is it. */
  tty?: boolean;
}

export interface Cli {
  program: 'ferry' | 'storkctl';
  out(text: string): void;
  err(text: string): void;
  now(): number;
  stdin(): string;
  tty: boolean;
}

export function makeCli(opts: CliOptions): Cli {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  return {
    program: opts.program,
    out: (text) => void stdout.write(text),
    err: (text) => void stderr.write(text),
    now: opts.now ?? Date.now,
    stdin: opts.stdin ?? (() => readFileSync(0, 'utf8')),
    tty: opts.tty ?? (opts.stdout === undefined && process.stdout.isTTY === true),
  };
}

function expand(path: string): string[] {
  if (path === '-') return ['-'];
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new UsageError(`the path "${path}" does not exist`);
  }
  if (!isDir) return [path];
  return readdirSync(path)
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .sort()
    .map((f) => join(path, f));
}

export interface LoadedManifests {
  objects: ValidatedObject[];
  /** Formatted error lines (YAML problems and validation errors), in file order. */
  errors: string[];
  /** Formatted warning lines. */
  warnings: string[];
}

/** Reads, parses and validates every document of the -f paths; collects every problem. */
export function loadManifests(cli: Cli, paths: readonly string[]): LoadedManifests {
  if (paths.length === 0) throw new UsageError('must specify -f FILE');
  const documents: RawDocument[] = [];
  const errors: string[] = [];
  for (const file of paths.flatMap(expand)) {
    const text = file === '-' ? cli.stdin() : readFileSync(file, 'utf8');
    const parsed = parseYamlDocuments(text, file);
    documents.push(...parsed.documents);
    errors.push(...parsed.problems.map(formatYamlProblem));
  }
  if (documents.length === 0 && errors.length === 0)
    throw new UsageError('no objects found in the given files');
  const { objects, issues } = validateDocuments(documents);
  errors.push(...issues.filter((i) => i.severity === 'error').map(formatIssue));
  const warnings = issues.filter((i) => i.severity === 'warning').map(formatIssue);
  return { objects, errors, warnings };
}

export function printProblems(cli: Cli, loaded: LoadedManifests): void {
  for (const w of loaded.warnings) cli.err(`Warning: ${w}\n`);
  for (const e of loaded.errors) cli.err(`${e}\n`);
}
