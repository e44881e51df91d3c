// Tables as kubectl prints them (Go text/tabwriter with minwidth 10, padding 3): every column
// but the last is padded to max(its widest cell + 3, 10); the last is not padded (nor are
// trailing spaces left when it is empty). A watch prints
// later rows alone, padded to the widths of the table it printed first.

export function columnWidths(header: readonly string[], rows: ReadonlyArray<readonly string[]>): number[] {
  return header.map((_, c) => Math.max(10, ...[header, ...rows].map((r) => (r[c] ?? '').length + 3)));
}

export function formatRow(row: readonly string[], widths: readonly number[]): string {
  return `${row
    .map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c] ?? 0)))
    .join('')
    .trimEnd()}\n`;
}

export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = columnWidths(header, rows);
  return [header, ...rows].map((r) => formatRow(r, widths)).join('');
}
