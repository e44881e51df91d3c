// Fuzzing the v1alpha1 validation: valid manifests of every kind (the seed's, Stork's examples),
// mutated (values replaced by odd ones, fields deleted, unknown fields added), and arbitrary
// values. validateObject never throws; every error names a field (a non-empty path) and says
// something; parseObject throws nothing but a ValidationError; what passes is stable under a
// second validation.
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  formatIssue,
  parseObject,
  parseYamlDocuments,
  validateObject,
  ValidationError,
} from '../../../api/index.js';
import { fuzzParams, mutate, mutation } from '../../fuzz.js';

const FIXTURES = path.resolve('test/fixtures');
const bases: unknown[] = ['seed', 'stork', 'calendar'].flatMap((dir) =>
  readdirSync(path.join(FIXTURES, dir))
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => {
      const text = readFileSync(path.join(FIXTURES, dir, f), 'utf8');
      return parseYamlDocuments(text, f).documents.map((d) => d.value);
    }),
);

function checkIssues(raw: unknown): { valid: boolean } {
  const { object, issues } = validateObject(raw);
  const errors = issues.filter((i) => i.severity === 'error');
  for (const e of errors) {
    expect(typeof e.message).toBe('string');
    expect(e.message.trim()).not.toBe('');
    const isObject = raw !== null && typeof raw === 'object' && !Array.isArray(raw);
    // Only a manifest that is not an object at all has no field to name.
    if (isObject && e.path.length === 0) throw new Error(`error without a field: ${formatIssue(e)}`);
    expect(formatIssue(e)).toContain(e.message);
  }
  expect(object === undefined).toBe(errors.length > 0);
  return { valid: object !== undefined };
}

it('has valid manifests of every kind to start from', () => {
  const kinds = new Set(bases.map((b) => (b as { kind: string }).kind));
  expect([...kinds].sort()).toEqual(
    expect.arrayContaining([
      'ClusterPair',
      'Migration',
      'MigrationSchedule',
      'ResourceTransformation',
      'SchedulePolicy',
    ]),
  );
  for (const b of bases) expect(validateObject(b).issues.filter((i) => i.severity === 'error')).toEqual([]);
});

it('mutated manifests: never throws, every error names a field, accepted ones are stable', () => {
  let valid = 0;
  let invalid = 0;
  fc.assert(
    // The base by index, so a counterexample prints short.
    fc.property(fc.nat(bases.length - 1), fc.array(mutation, { minLength: 1, maxLength: 4 }), (b, ms) => {
      const raw = mutate(bases[b], ms);
      if (checkIssues(raw).valid) {
        valid++;
        const once = parseObject(raw);
        const twice = parseObject(structuredClone(once));
        expect(twice).toEqual(once);
      } else {
        invalid++;
        try {
          parseObject(raw);
          throw new Error('parseObject accepted what validateObject refused');
        } catch (err) {
          expect(err).toBeInstanceOf(ValidationError);
          const errors = validateObject(raw).issues.filter((i) => i.severity === 'error');
          expect((err as Error).message).toBe(errors.map(formatIssue).join('\n'));
        }
      }
    }),
    fuzzParams(1000),
  );
  // The mutations reach both sides: some manifests stay valid, most are refused.
  expect(valid).toBeGreaterThan(0);
  expect(invalid).toBeGreaterThan(valid / 10);
});

it('arbitrary values: never throws', () => {
  fc.assert(
    fc.property(fc.anything({ maxDepth: 3 }), (raw) => {
      checkIssues(raw);
    }),
    fuzzParams(1000),
  );
});

it('found by fuzzing: a ClusterPair option set to null is an unset option, not a TypeError', () => {
  const pair = bases.find((b) => (b as { kind: string }).kind === 'ClusterPair') as {
    spec: { options: Record<string, unknown> };
  };
  const raw = structuredClone(pair);
  raw.spec.options = { port: null, mode: null, ip: '10.0.0.5', token: 't' };
  expect(validateObject(raw).issues.filter((i) => i.severity === 'error')).toEqual([]);
});
