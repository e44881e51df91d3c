// Placeholder until the CLI lands (issue 4).
export interface CliOptions {
  program: 'ferry' | 'storkctl';
}
export async function runCli(argv: string[], opts: CliOptions): Promise<number> {
  process.stderr.write(`${opts.program}: unknown command '${argv[0] ?? ''}'\n`);
  return 1;
}
