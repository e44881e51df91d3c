// The schema DSL: validation semantics, defaults, OpenAPI output and inferred types.
import {
  array,
  bool,
  formatPath,
  int,
  map,
  object,
  string,
  type InOf,
  type OutOf,
} from '../../../api/schema/index.js';
import type {
  MigrationSchedule,
  SchedulePolicy,
  SchedulePolicyInput,
  ClusterPair,
} from '../../../api/index.js';

const thing = object(
  {
    name: string({ minLength: 1 }),
    size: int({ minimum: 1, maximum: 10, default: 5 }),
    tags: array(string()),
    labels: map(string()),
    on: bool({ default: false }),
    note: string({ nullable: true }),
    mode: string({ enum: ['a', 'b'] }),
  },
  { required: ['name'] },
);

describe('schema DSL', () => {
  it('reports every problem with its path', () => {
    const issues = thing.validate({
      name: '',
      size: 11,
      tags: ['x', 3, null],
      labels: { 'a.b/c': 1 },
      mode: 'c',
      extra: 1,
    });
    expect(issues.map((i) => `${formatPath(i.path)}: ${i.message}`)).toEqual([
      'extra: unknown field',
      'name: must not be empty',
      'size: 11 is out of range: must be between 1 and 10',
      'tags[1]: 3 is not a string (got an integer); quote it: "3"',
      'tags[2]: null is not allowed in this list',
      'labels["a.b/c"]: 1 is not a string (got an integer); quote it: "1"',
      'mode: "c" is not one of "a", "b"',
    ]);
  });

  it('treats null as unset unless nullable, as the apiserver prunes it', () => {
    expect(thing.validate({ name: 'x', size: null, note: null })).toEqual([]);
    expect(thing.applyDefaults({ name: 'x', size: null, note: null })).toEqual({
      name: 'x',
      size: 5,
      on: false,
      note: null,
    });
    expect(thing.validate({ name: null }).map((i) => i.message)).toEqual(['required field is missing']);
  });

  it('emits a typed OpenAPI node per field', () => {
    expect(thing.openApi()).toEqual({
      type: 'object',
      properties: {
        name: { type: 'string', minLength: 1 },
        size: { type: 'integer', minimum: 1, maximum: 10, default: 5 },
        tags: { type: 'array', items: { type: 'string' } },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        on: { type: 'boolean', default: false },
        note: { type: 'string', nullable: true },
        mode: { type: 'string', enum: ['a', 'b'] },
      },
      required: ['name'],
    });
  });

  it('runs a check with checkReads as soon as the fields it reads are free of errors', () => {
    const pair = object(
      { a: array(string()), b: map(string()), c: int() },
      {
        checkReads: ['a', 'b'],
        check: (v, report) => {
          if (!v.a?.length && !Object.keys(v.b ?? {}).length) report.error('set a or b');
        },
      },
    );
    const messages = (v: unknown) => pair.validate(v).map((i) => `${formatPath(i.path)}: ${i.message}`);
    expect(messages({ c: 'x' })).toEqual(['c: "x" is not an integer (got a string)', '(root): set a or b']);
    expect(messages({ a: [1], c: 'x' })).toEqual([
      'a[0]: 1 is not a string (got an integer); quote it: "1"',
      'c: "x" is not an integer (got a string)',
    ]);
    expect(messages({ b: { k: 'v' } })).toEqual([]);
    const plain = object({ a: array(string()), c: int() }, { check: (_v, r) => r.error('always') });
    expect(plain.validate({ c: 'x' }).map((i) => i.message)).toEqual([
      '"x" is not an integer (got a string)',
    ]);
  });

  it('writes CEL rules to the CRD as x-kubernetes-validations', () => {
    const node = object({ a: string() }, { celRules: [{ rule: 'has(self.a)', message: 'set a' }] }).openApi();
    expect(node['x-kubernetes-validations']).toEqual([{ rule: 'has(self.a)', message: 'set a' }]);
    expect('x-kubernetes-validations' in object({ a: string() }).openApi()).toBe(false);
  });

  it('infers input and defaulted output types (compile-time checks)', () => {
    type In = InOf<typeof thing>;
    type Out = OutOf<typeof thing>;
    const input: In = { name: 'x' };
    const out: Out = { name: 'x', size: 5, on: false };
    const mode: 'a' | 'b' | undefined = out.mode;
    const note: string | null | undefined = out.note;
    // @ts-expect-error size is required after defaults
    const missing: Out = { name: 'x', on: false };
    // Kinds: literal kind, defaulted retain and suspend, nullable creationTimestamp. Type-checked only.
    const kinds = (p: SchedulePolicy, s: MigrationSchedule, c: ClusterPair) => {
      const kind: 'SchedulePolicy' = p.kind;
      const retain: number | undefined = p.policy.daily?.retain;
      const suspend: boolean = s.spec.suspend;
      const includeVolumes: boolean = s.spec.template.spec.includeVolumes;
      const created: string | null | undefined = c.metadata.creationTimestamp;
      return [kind, retain, suspend, includeVolumes, created];
    };
    const written: SchedulePolicyInput = {
      apiVersion: 'stork.libopenstorage.org/v1alpha1',
      kind: 'SchedulePolicy',
      metadata: { name: 'x' },
      // @ts-expect-error retain is optional as written, but time is required
      policy: { daily: {} },
    };
    expect([input, out, mode, note, missing, kinds, written]).toBeDefined();
  });
});
