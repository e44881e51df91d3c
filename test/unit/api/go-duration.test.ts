// goDuration prints milliseconds the way Go's time.Duration.String() prints the same duration:
// a table of Go's own outputs (many from Go's time_test.go), then properties against an
// independent parser that reads the string back to exact nanoseconds.
import fc from 'fast-check';
import { goDuration } from '../../../api/go-duration.js';

const MICRO = '\u00b5'; // Go writes U+00B5 MICRO SIGN, not U+03BC GREEK SMALL LETTER MU

describe('goDuration: Go time.Duration.String()', () => {
  it.each<[number, string]>([
    [0, '0s'],
    [-0, '0s'],
    [1e-6, '1ns'],
    [0.000999, '999ns'],
    [0.0011, `1.1${MICRO}s`],
    [0.5, `500${MICRO}s`],
    [0.999999, `999.999${MICRO}s`],
    [1, '1ms'],
    [2.2, '2.2ms'],
    [250, '250ms'],
    [999, '999ms'],
    [999.9996, '999.9996ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [3300, '3.3s'],
    [59_999, '59.999s'],
    [60_000, '1m0s'],
    [245_000, '4m5s'],
    [245_001, '4m5.001s'],
    [300_000, '5m0s'],
    [480_000.000001, '8m0.000000001s'],
    [3_600_000, '1h0m0s'],
    [3_723_500, '1h2m3.5s'],
    [18_367_001, '5h6m7.001s'],
    [90_000_000, '25h0m0s'],
    [9_223_372_036_854, '2562047h47m16.854s'],
    [-1500, '-1.5s'],
    [-250, '-250ms'],
    [-0.5, `-500${MICRO}s`],
    [-3_723_500, '-1h2m3.5s'],
    [-60_000, '-1m0s'],
  ])('%p ms -> %p', (ms, go) => {
    expect(goDuration(ms)).toBe(go);
  });

  it('never carries a rounded fraction into the next unit ("60s", "1m60s", "1000ms")', () => {
    expect(goDuration(59_999.9996)).toBe('59.9999996s');
    expect(goDuration(119_999.9996)).toBe('1m59.9999996s');
    expect(goDuration(3_599_999.9999)).toBe('59m59.9999999s');
  });

  it('prints what rounds to 0ns as 0s, without a sign', () => {
    expect(goDuration(4e-7)).toBe('0s');
    expect(goDuration(-4e-7)).toBe('0s');
  });

  it('prints a non-finite input as 0s', () => {
    expect(goDuration(NaN)).toBe('0s');
    expect(goDuration(Infinity)).toBe('0s');
  });
});

/** Exact nanoseconds of a Go duration string (independent of the implementation under test). */
function parseGoNs(s: string): bigint {
  const m = /^(-?)((?:\d+(?:\.\d+)?(?:h|m|s|ms|\u00b5s|ns))+)$/.exec(s);
  if (!m) throw new Error(`not a Go duration: ${s}`);
  const unit: Record<string, bigint> = {
    h: 3_600_000_000_000n,
    m: 60_000_000_000n,
    s: 1_000_000_000n,
    ms: 1_000_000n,
    [`${MICRO}s`]: 1_000n,
    ns: 1n,
  };
  let total = 0n;
  for (const [, int, frac = '', u] of m[2]!.matchAll(/(\d+)(?:\.(\d+))?(h|ms|m|\u00b5s|ns|s)/g)) {
    const scale = unit[u!]!;
    const fracNs = frac ? (BigInt(frac) * scale) / 10n ** BigInt(frac.length) : 0n;
    total += BigInt(int!) * scale + fracNs;
  }
  return m[1] ? -total : total;
}

/**
 * Go's shapes: "0s"; under a second, one unit (whole ns, or µs/ms with a fraction); else seconds
 * with minutes and hours above them, each smaller unit below 60 once a bigger one is printed.
 */
const FRAC = '(?:\\.\\d*[1-9])?';
const SIXTY = '[1-5]?\\d';
const SHAPE = new RegExp(
  '^-?(?:0s' +
    '|[1-9]\\d{0,2}ns' +
    `|[1-9]\\d{0,2}${FRAC}(?:\u00b5s|ms)` +
    `|[1-9]\\d*h${SIXTY}m${SIXTY}${FRAC}s` +
    `|(?:[1-5]\\d|[1-9])m${SIXTY}${FRAC}s` +
    `|(?:[1-5]\\d|[1-9])${FRAC}s)$`,
);

describe('goDuration: properties', () => {
  const nanos = fc.bigInt({ min: -(10n ** 18n), max: 10n ** 18n });

  it('reads back to the same whole nanoseconds, in Go shape (integer ms)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), (ms) => {
        const s = goDuration(ms);
        expect(s).toMatch(SHAPE);
        expect(parseGoNs(s)).toBe(BigInt(ms) * 1_000_000n);
      }),
      { numRuns: 500 },
    );
  });

  it('reads back to the same nanoseconds when given ns / 1e6 (sub-ms included)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }), (ns) => {
        const s = goDuration(Number(ns) / 1e6);
        expect(s).toMatch(SHAPE);
        expect(parseGoNs(s)).toBe(ns);
      }),
      { numRuns: 1000 },
    );
  });

  it('rounds any finite ms to a nearest nanosecond, in Go shape', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e9, max: 1e9, noNaN: true, noDefaultInfinity: true }), (ms) => {
        const s = goDuration(ms);
        expect(s).toMatch(SHAPE);
        expect(Math.abs(Number(parseGoNs(s)) - ms * 1e6)).toBeLessThanOrEqual(0.75);
      }),
      { numRuns: 500 },
    );
  });

  it('a negative duration prints as "-" and its absolute value', () => {
    fc.assert(
      fc.property(nanos, (ns) => {
        if (ns === 0n) return;
        const ms = Number(ns) / 1e6;
        expect(goDuration(-Math.abs(ms))).toBe(`-${goDuration(Math.abs(ms))}`);
      }),
    );
  });
});
