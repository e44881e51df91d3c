// Runs the CLI in-process and captures what it prints.
import { runCli } from '../../../client/cli/main.js';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export const FIXTURES = new URL('../../fixtures/', import.meta.url).pathname;

export async function run(
  argv: string[],
  program: 'ferry' | 'storkctl' = 'ferry',
  now = Date.parse('2026-02-26T12:00:00Z'),
): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    program,
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    now: () => now,
  });
  return { code, stdout, stderr };
}

export const lines = (text: string) => text.split('\n').filter((l) => l !== '');
