// Placeholder until the storage agent lands (issue 5): keeps `ferry agent` routable.
export async function agentMain(_argv: string[]): Promise<number> {
  process.stderr.write('ferry agent: not built yet\n');
  return 1;
}
