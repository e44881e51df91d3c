// Tables as kubectl prints them (Go text/tabwriter with minwidth 10, padding 3): every column
// but the last is padded to max(its widest cell + 3, 10); the last is not padded.

export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(10, ...all.map((r) => (r[c] ?? '').length + 3)));
  return all
    .map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join(''))
    .map((line) => `${line}\n`)
    .join('');
}
