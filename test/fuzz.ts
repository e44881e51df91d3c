// Shared by the fuzz tests (unit and agents): how many cases to try, and structural mutations of
// valid JSON objects. FERRY_FUZZ_RUNS=N runs N cases per target instead of the quick default;
// FERRY_FUZZ_SEED=S replays the run fast-check printed with "seed: S" on a failure.
import fc from 'fast-check';

export function fuzzParams(defaultRuns: number): fc.Parameters<unknown> {
  const runs = Number(process.env['FERRY_FUZZ_RUNS'] ?? defaultRuns);
  const seed = process.env['FERRY_FUZZ_SEED'];
  return {
    numRuns: Number.isInteger(runs) && runs > 0 ? runs : defaultRuns,
    ...(seed !== undefined ? { seed: Number(seed) } : {}),
  };
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = Array<string | number>;

function paths(v: unknown, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v !== null && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

export type Mutation =
  | { op: 'set'; pick: number; value: unknown }
  | { op: 'delete'; pick: number }
  | { op: 'add'; pick: number; key: string; value: unknown };

/** Odd values a user or an attacker might write where something else is expected. */
export const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(
    '',
    ' ',
    '0',
    '-1',
    '1e309',
    'NaN',
    '25:61',
    '<placeholder>',
    '../../etc/passwd',
    '\u0000',
    'ǅ',
  ),
  fc.constantFrom(0, -1, 1.5, 2 ** 53, -(2 ** 31), Number.MAX_SAFE_INTEGER, 1e21),
  fc.string({ maxLength: 40 }),
  fc.constantFrom([], {}, [null], { '': 1 }, true, false, null),
);

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), pick: fc.nat(), value: oddValue }),
  fc.record({ op: fc.constant('delete' as const), pick: fc.nat() }),
  fc.record({
    op: fc.constant('add' as const),
    pick: fc.nat(),
    key: fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom('__proto__', 'constructor', 'spec', 'status'),
    ),
    value: oddValue,
  }),
);

/** A deep copy of `base` with the mutations applied, each at a path picked among its current ones. */
export function mutate(base: unknown, mutations: Mutation[]): unknown {
  let doc = structuredClone(base) as Json;
  for (const original of mutations) {
    // Values are copied in: fast-check hands out the same constant objects again and again.
    const m = 'value' in original ? { ...original, value: structuredClone(original.value) } : original;
    const all = paths(doc);
    const at = all[m.pick % all.length]!;
    if (at.length === 0) {
      if (m.op === 'set') doc = m.value as Json;
      continue;
    }
    const parent = at.slice(0, -1).reduce<Json>((o, k) => (o as Record<string | number, Json>)[k]!, doc) as
      Json[] | Record<string, Json>;
    const key = at[at.length - 1]!;
    if (m.op === 'set') (parent as Record<string | number, unknown>)[key] = m.value;
    else if (m.op === 'delete') {
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete (parent as Record<string, unknown>)[key];
    } else {
      const target = (parent as Record<string | number, unknown>)[key];
      if (target !== null && typeof target === 'object' && !Array.isArray(target))
        Object.defineProperty(target, m.key, {
          value: m.value,
          enumerable: true,
          configurable: true,
          writable: true,
        });
      else if (Array.isArray(target)) target.push(m.value as Json);
    }
  }
  return doc;
}
