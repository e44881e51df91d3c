// Durations as Go's time.Duration.String() prints them ("5m0s", "1h2m3.5s", "250ms", "500µs"):
// Stork's status fields and storkctl's ELAPSED column use this form, and scripts parse it.
//
// Go's rule, on the duration rounded to whole nanoseconds: 0 is "0s"; under a second, one unit
// (ns, µs with U+00B5, or ms) with the fraction's trailing zeros cut; else [[h]m]s with the
// seconds' fraction to the nanosecond. The arithmetic is on integer nanoseconds, so a fraction
// never rounds up into "60s" or "1000ms".

const NS_PER_US = 1_000n;
const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;

export function goDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '0s';
  // Whole milliseconds exactly, however large; the fraction to the nearest nanosecond.
  const abs = Math.abs(ms);
  const whole = Math.trunc(abs);
  const ns = BigInt(whole) * NS_PER_MS + BigInt(Math.round((abs - whole) * 1e6));
  if (ns === 0n) return '0s';
  const sign = ms < 0 ? '-' : '';
  if (ns < NS_PER_US) return `${sign}${ns}ns`;
  if (ns < NS_PER_MS) return `${sign}${decimal(ns, 3)}\u00b5s`;
  if (ns < NS_PER_S) return `${sign}${decimal(ns, 6)}ms`;
  const totalSeconds = ns / NS_PER_S;
  const s = `${totalSeconds % 60n}${fraction(ns % NS_PER_S, 9)}s`;
  const totalMinutes = totalSeconds / 60n;
  if (totalMinutes === 0n) return `${sign}${s}`;
  const m = `${totalMinutes % 60n}m`;
  const h = totalMinutes / 60n;
  return h > 0n ? `${sign}${h}h${m}${s}` : `${sign}${m}${s}`;
}

/** `v / 10^digits` in decimal, the fraction's trailing zeros cut (no point when it is whole). */
function decimal(v: bigint, digits: number): string {
  const scale = 10n ** BigInt(digits);
  return `${v / scale}${fraction(v % scale, digits)}`;
}

/** ".ddd" for `frac / 10^digits`, trailing zeros cut; "" when frac is 0. */
function fraction(frac: bigint, digits: number): string {
  if (frac === 0n) return '';
  return `.${frac.toString().padStart(digits, '0').replace(/0+$/, '')}`;
}
