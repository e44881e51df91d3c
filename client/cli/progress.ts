// What `watch migration` prints, pure. On a terminal: a status line and a line per volume (bytes
// done of total, rate, ETA), redrawn in place; in a pipe: a line per change of stage/status or of
// a volume's status, nothing for byte counts alone. The last line is Stork's `create --wait`
// wording: `Migration <name> completed successfully` or `Migration <name> failed`.

import type { MigrationProgress } from '../sdk.js';

/** 1536 → `1.5 KiB`. */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** 3725 s → `1h2m5s`; under a second `0s`. */
export function shortDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${r}s`;
}

export interface Rates {
  /** Per volume, the previous sample: bytes and time (ms). */
  last: Map<string, { bytes: number; at: number; rate: number }>;
}

export const newRates = (): Rates => ({ last: new Map() });

/** The terminal's lines for one sample; updates `rates` (bytes/s per volume, from the last sample). */
export function terminalLines(name: string, p: MigrationProgress, rates: Rates): string[] {
  const s = p.status;
  const lines = [`Migration ${name}: ${s.stage || 'Pending'} ${s.status || 'Pending'}`];
  for (const v of p.volumes) {
    const prev = rates.last.get(v.volume);
    let rate = prev?.rate ?? 0;
    if (prev && p.at > prev.at && v.bytesDone >= prev.bytes)
      rate = ((v.bytesDone - prev.bytes) * 1000) / (p.at - prev.at);
    rates.last.set(v.volume, { bytes: v.bytesDone, at: p.at, rate });
    const total = v.bytesTotal > 0 ? ` / ${humanBytes(v.bytesTotal)}` : '';
    const pct = v.bytesTotal > 0 ? ` ${Math.floor((100 * v.bytesDone) / v.bytesTotal)}%` : '';
    const eta =
      v.live && rate > 0 && v.bytesTotal > v.bytesDone
        ? `  ETA ${shortDuration((v.bytesTotal - v.bytesDone) / rate)}`
        : '';
    const speed = v.live ? `  ${humanBytes(Math.round(rate))}/s` : '';
    lines.push(
      `  ${v.namespace}/${v.pvc}  ${v.status || 'Pending'}  ${humanBytes(v.bytesDone)}${total}${pct}${speed}${eta}`,
    );
  }
  return lines;
}

/** A pipe's lines for a sample: only what changed since `seen` (updated). */
export function pipeLines(name: string, p: MigrationProgress, seen: Map<string, string>): string[] {
  const out: string[] = [];
  const s = p.status;
  const state = `${s.stage || 'Pending'} ${s.status || 'Pending'}`;
  if (seen.get('') !== state) {
    seen.set('', state);
    out.push(`Migration ${name}: stage ${s.stage || 'Pending'}, status ${s.status || 'Pending'}`);
  }
  for (const v of p.volumes) {
    const key = `volume ${v.namespace}/${v.pvc}`;
    if (seen.get(key) !== v.status) {
      seen.set(key, v.status);
      out.push(
        `Volume ${v.namespace}/${v.pvc} (${v.volume}): ${v.status || 'Pending'}, ${v.bytesDone} bytes`,
      );
    }
  }
  return out;
}

/** The closing line, the reason (failures) and the exit code for a final status. */
export function finalLine(
  name: string,
  p: MigrationProgress,
): { line: string; reason?: string; code: number } {
  const s = p.status;
  const reason = s.reason ? { reason: s.reason } : {};
  if (s.status === 'Successful') return { line: `Migration ${name} completed successfully`, code: 0 };
  if (s.status === 'PartialSuccess')
    return { line: `Migration ${name} partially succeeded`, ...reason, code: 1 };
  return { line: `Migration ${name} failed`, ...reason, code: 1 };
}

/** ANSI: move up `n` lines to the start and clear each as it is rewritten. */
export function redraw(previous: number, lines: readonly string[]): string {
  const up = previous > 0 ? `\x1b[${previous}F` : '';
  return `${up}${lines.map((l) => `\x1b[2K${l}\n`).join('')}`;
}
