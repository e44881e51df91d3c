// Stork's ResourceTransformation on plain objects: table tests per operation and type, the errors
// a bad spec or an object that cannot take it give, and properties (input untouched, add then
// delete restores, selection by kind and labels).
import fc from 'fast-check';
import {
  TRANSFORMED_ANNOTATION,
  TransformationError,
  applyTransformations,
  validateTransformationSpec,
  type KubeObject,
  type ResourceTransformationSpec,
} from '../../../resources/transformation.js';

const service = (): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'mysql', namespace: 'db', labels: { app: 'mysql' } },
  spec: {
    type: 'ClusterIP',
    selector: { app: 'mysql' },
    ports: [{ name: 'transport', port: 3306, nodePort: 31000 }],
    externalIPs: ['10.0.0.1'],
  },
});

type Path = { path: string; value?: string; type?: string; operation: string };
const one = (resource: string, paths: Path[], selectors?: Record<string, string>) =>
  ({
    transformSpecs: [{ resource, paths, ...(selectors ? { selectors } : {}) }],
  }) as ResourceTransformationSpec;

const apply = (paths: Path[], obj = service()) => applyTransformations(obj, [one('/v1/Service', paths)]);
const spec = (o: KubeObject) => o['spec'] as Record<string, unknown>;
const meta = (o: KubeObject) => o['metadata'] as Record<string, unknown>;

describe('applyTransformations: operations and value types', () => {
  it.each<[string, Path, (o: KubeObject) => unknown, unknown]>([
    [
      'string',
      { path: 'spec.type', value: 'LoadBalancer', type: 'string', operation: 'modify' },
      (o) => spec(o)['type'],
      'LoadBalancer',
    ],
    [
      'int, through an index',
      { path: 'spec.ports[0].nodePort', value: '30080', type: 'int', operation: 'modify' },
      (o) => (spec(o)['ports'] as KubeObject[])[0]!['nodePort'],
      30080,
    ],
    ['negative int', { path: 'spec.x', value: '-5', type: 'int', operation: 'add' }, (o) => spec(o)['x'], -5],
    [
      'bool (Go spellings)',
      { path: 'spec.publishNotReadyAddresses', value: 'True', type: 'bool', operation: 'add' },
      (o) => spec(o)['publishNotReadyAddresses'],
      true,
    ],
    [
      'bool 0',
      { path: 'spec.allocateLoadBalancerNodePorts', value: '0', type: 'bool', operation: 'add' },
      (o) => spec(o)['allocateLoadBalancerNodePorts'],
      false,
    ],
    [
      'slice add replaces',
      { path: 'spec.externalIPs', value: '10.0.0.2, 10.0.0.3', type: 'slice', operation: 'add' },
      (o) => spec(o)['externalIPs'],
      ['10.0.0.2', '10.0.0.3'],
    ],
    [
      'slice modify appends',
      { path: 'spec.externalIPs', value: '10.0.0.2', type: 'slice', operation: 'modify' },
      (o) => spec(o)['externalIPs'],
      ['10.0.0.1', '10.0.0.2'],
    ],
    [
      'slice modify creates',
      { path: 'spec.loadBalancerSourceRanges', value: '10.0.0.0/8', type: 'slice', operation: 'modify' },
      (o) => spec(o)['loadBalancerSourceRanges'],
      ['10.0.0.0/8'],
    ],
    [
      'empty slice',
      { path: 'spec.externalIPs', value: '', type: 'slice', operation: 'add' },
      (o) => spec(o)['externalIPs'],
      [],
    ],
    [
      'keypair add replaces',
      { path: 'metadata.labels', value: 'handler:project,app:mysql-2', type: 'keypair', operation: 'add' },
      (o) => meta(o)['labels'],
      { handler: 'project', app: 'mysql-2' },
    ],
    [
      'keypair modify merges',
      { path: 'metadata.labels', value: 'handler:project', type: 'keypair', operation: 'modify' },
      (o) => meta(o)['labels'],
      { app: 'mysql', handler: 'project' },
    ],
    [
      'keypair value with colons',
      { path: 'metadata.annotations', value: 'url:http://x:80', type: 'keypair', operation: 'add' },
      (o) => (meta(o)['annotations'] as KubeObject)['url'],
      'http://x:80',
    ],
    [
      'add creates maps on the way',
      { path: 'metadata.annotations.foo', value: 'bar', type: 'string', operation: 'add' },
      (o) => (meta(o)['annotations'] as KubeObject)['foo'],
      'bar',
    ],
    [
      'delete',
      { path: 'spec.ports[0].nodePort', operation: 'delete' },
      (o) => 'nodePort' in (spec(o)['ports'] as KubeObject[])[0]!,
      false,
    ],
    ['delete a map', { path: 'spec.selector', operation: 'delete' }, (o) => 'selector' in spec(o), false],
    [
      'delete what is not there',
      { path: 'spec.nothing.here', operation: 'delete' },
      (o) => spec(o)['type'],
      'ClusterIP',
    ],
    [
      'delete past the end of a list',
      { path: 'spec.ports[4].nodePort', operation: 'delete' },
      (o) => (spec(o)['ports'] as unknown[]).length,
      1,
    ],
  ])('%s', (_name, path, read, expected) => {
    const { object, applied } = apply([path]);
    expect(read(object)).toEqual(expected);
    expect(applied).toEqual([`/v1/Service ${path.operation} ${path.path}`]);
    expect((meta(object)['annotations'] as KubeObject)[TRANSFORMED_ANNOTATION]).toBe('true');
  });

  it("applies Stork's documented example in order, to a copy", () => {
    const input = service();
    const rt = one('/v1/Service', [
      { path: 'spec.type', value: 'LoadBalancer', type: 'string', operation: 'modify' },
      { path: 'metadata.labels', value: 'handler:project,app:mysql-2', type: 'keypair', operation: 'modify' },
      {
        path: 'metadata.annotations',
        value: 'handler:project,app:mysql-2',
        type: 'keypair',
        operation: 'add',
      },
    ]);
    const { object, applied } = applyTransformations(input, [rt]);
    expect(input).toEqual(service());
    expect(object).toEqual({
      ...service(),
      metadata: {
        name: 'mysql',
        namespace: 'db',
        labels: { app: 'mysql-2', handler: 'project' },
        annotations: { handler: 'project', app: 'mysql-2', [TRANSFORMED_ANNOTATION]: 'true' },
      },
      spec: { ...spec(service()), type: 'LoadBalancer' },
    });
    expect(applied).toEqual([
      '/v1/Service modify spec.type',
      '/v1/Service modify metadata.labels',
      '/v1/Service add metadata.annotations',
    ]);
  });
});

describe('applyTransformations: selection', () => {
  const deployment: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', labels: { app: 'web', tier: 'front' } },
    spec: { replicas: 3 },
  };
  const set = { path: 'spec.replicas', value: '1', type: 'int', operation: 'modify' };
  it.each<[string, string, Record<string, string> | undefined, boolean]>([
    ['group/version/kind', 'apps/v1/Deployment', undefined, true],
    ['all selectors match', 'apps/v1/Deployment', { app: 'web', tier: 'front' }, true],
    ['one selector differs', 'apps/v1/Deployment', { app: 'web', tier: 'back' }, false],
    ['another kind', 'apps/v1/StatefulSet', undefined, false],
    ['another version', 'apps/v1beta1/Deployment', undefined, false],
    ['another group', 'extensions/v1/Deployment', undefined, false],
    ['kind is case-sensitive', 'apps/v1/Deployments', undefined, false],
  ])('%s', (_name, resource, selectors, selected) => {
    const { object, applied } = applyTransformations(deployment, [one(resource, [set], selectors)]);
    expect(spec(object)['replicas']).toBe(selected ? 1 : 3);
    expect(applied).toHaveLength(selected ? 1 : 0);
    expect(object === deployment).toBe(false);
    if (!selected) expect(object).toEqual(deployment); // no annotation either
  });
  it('takes core/v1 for the core group, as /v1', () => {
    const { applied } = applyTransformations(service(), [
      one('core/v1/Service', [{ path: 'spec.type', value: 'NodePort', type: 'string', operation: 'add' }]),
    ]);
    expect(applied).toEqual(['core/v1/Service add spec.type']);
  });
  it('applies several transformations in order, later ones seeing earlier results', () => {
    const a = one('/v1/Service', [
      { path: 'metadata.labels.stage', value: 'dr', type: 'string', operation: 'add' },
    ]);
    const b = one(
      '/v1/Service',
      [{ path: 'spec.type', value: 'NodePort', type: 'string', operation: 'add' }],
      {
        stage: 'dr',
      },
    );
    expect(applyTransformations(service(), [a, b]).applied).toHaveLength(2);
    expect(applyTransformations(service(), [b, a]).applied).toHaveLength(1);
  });
});

describe('applyTransformations: errors name the field and the value', () => {
  const err = (paths: Path[], obj = service()) => {
    try {
      apply(paths, obj);
    } catch (e) {
      expect(e).toBeInstanceOf(TransformationError);
      const t = e as TransformationError;
      return { field: t.field, value: t.value, message: t.message };
    }
    throw new Error('no error');
  };
  const P = 'transformations[0].transformSpecs[0].paths[0]';
  it.each<[string, Path, { field: string; value: unknown; message: string }]>([
    [
      'int that is not a number',
      { path: 'spec.ports[0].nodePort', value: '30O80', type: 'int', operation: 'modify' },
      {
        field: `${P}.value`,
        value: '30O80',
        message: `${P}.value: "30O80" is not an int: type int wants a whole number (e.g. 30080)`,
      },
    ],
    [
      'bool that is not Go bool',
      { path: 'spec.x', value: 'yes', type: 'bool', operation: 'add' },
      {
        field: `${P}.value`,
        value: 'yes',
        message: `${P}.value: "yes" is not a bool: use true or false (or 1, 0, t, f, TRUE, False, ...)`,
      },
    ],
    [
      'keypair without colon',
      { path: 'metadata.labels', value: 'a:b,c', type: 'keypair', operation: 'modify' },
      {
        field: `${P}.value`,
        value: 'a:b,c',
        message: `${P}.value: "a:b,c" is not a keypair list: "c" is not key:value (e.g. app:web,tier:db)`,
      },
    ],
    [
      'path with an empty name',
      { path: 'spec..type', value: 'x', type: 'string', operation: 'add' },
      {
        field: `${P}.path`,
        value: 'spec..type',
        message: `${P}.path: "spec..type" is not a path of field names joined by dots, with [n] list indexes (e.g. spec.type, metadata.annotations.foo, spec.ports[0].nodePort)`,
      },
    ],
    [
      'path ending with an index',
      { path: 'spec.ports[0]', value: 'x', type: 'string', operation: 'add' },
      {
        field: `${P}.path`,
        value: 'spec.ports[0]',
        message: `${P}.path: "spec.ports[0]" ends with a list index: a whole list element cannot be transformed, only a field of it (e.g. spec.ports[0].name)`,
      },
    ],
    [
      'add without a type',
      { path: 'spec.type', value: 'x', operation: 'add' },
      {
        field: `${P}.type`,
        value: undefined,
        message: `${P}.type: required for operation add: one of bool, int, string, slice, keypair`,
      },
    ],
    [
      'jsonpatch',
      { path: 'spec', value: '[]', type: 'string', operation: 'jsonpatch' },
      {
        field: `${P}.operation`,
        value: 'jsonpatch',
        message: `${P}.operation: "jsonpatch" is not supported (Stork refuses JSON patches too): use add, modify or delete`,
      },
    ],
    [
      'index past the end',
      { path: 'spec.ports[2].nodePort', value: '1', type: 'int', operation: 'modify' },
      {
        field: `${P}.path`,
        value: 'spec.ports[2].nodePort',
        message: `${P}.path: cannot modify it on Service db/mysql: spec.ports has 1 item, so there is no spec.ports[2]`,
      },
    ],
    [
      'a field under a string',
      { path: 'spec.type.name', value: '1', type: 'string', operation: 'add' },
      {
        field: `${P}.path`,
        value: 'spec.type.name',
        message: `${P}.path: cannot add it on Service db/mysql: spec.type is string "ClusterIP", not a map`,
      },
    ],
    [
      'an index into a map',
      { path: 'spec.selector[0].x', value: '1', type: 'string', operation: 'add' },
      {
        field: `${P}.path`,
        value: 'spec.selector[0].x',
        message: `${P}.path: cannot add it on Service db/mysql: spec.selector is a map, not a list`,
      },
    ],
    [
      'an index into nothing',
      { path: 'spec.clusterIPs[0].x', value: '1', type: 'string', operation: 'add' },
      {
        field: `${P}.path`,
        value: 'spec.clusterIPs[0].x',
        message: `${P}.path: cannot add it on Service db/mysql: there is no list at spec.clusterIPs`,
      },
    ],
    [
      'keypair modify of a missing map',
      { path: 'metadata.annotations', value: 'a:b', type: 'keypair', operation: 'modify' },
      {
        field: `${P}.path`,
        value: 'metadata.annotations',
        message: `${P}.path: cannot modify it on Service db/mysql: there is no map at metadata.annotations to merge into (use add to create it)`,
      },
    ],
    [
      'slice modify of a map',
      { path: 'spec.selector', value: 'a', type: 'slice', operation: 'modify' },
      {
        field: `${P}.path`,
        value: 'spec.selector',
        message: `${P}.path: cannot modify it on Service db/mysql: spec.selector is a map, not a list`,
      },
    ],
  ])('%s', (_name, path, expected) => {
    expect(err([path])).toEqual(expected);
  });
  it('refuses a bad resource before touching anything', () => {
    expect(() =>
      applyTransformations(service(), [one('v1/Service', [{ path: 'a', operation: 'delete' }])]),
    ).toThrow(
      'transformations[0].transformSpecs[0].resource: "v1/Service" is not a resource of the form group/version/kind (e.g. /v1/Service, apps/v1/Deployment)',
    );
  });
});

describe('validateTransformationSpec', () => {
  it('is empty for a good spec and lists every problem of a bad one', () => {
    expect(
      validateTransformationSpec(
        one('apps/v1/Deployment', [{ path: 'spec.replicas', value: '2', type: 'int', operation: 'add' }]),
      ),
    ).toEqual([]);
    expect(
      validateTransformationSpec(
        one('apps/V1/deployment', [
          { path: 'spec.replicas', value: 'two', type: 'int', operation: 'add' },
          { path: 'spec[0]', operation: 'delete' },
        ]),
      ).map((p) => p.path.join('.')),
    ).toEqual([
      'transformSpecs.0.resource',
      'transformSpecs.0.paths.0.value',
      'transformSpecs.0.paths.1.path',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const name = fc.stringMatching(/^[a-z][a-zA-Z0-9]{0,7}$/);
const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.integer(),
    fc.boolean(),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(name, tie('value'), { maxKeys: 3 }),
  ),
})).value;
const object = fc.record({
  apiVersion: fc.constant('v1'),
  kind: fc.constant('ConfigMap'),
  metadata: fc.record({ name, labels: fc.dictionary(name, name, { maxKeys: 3 }) }),
  data: fc.dictionary(name, json, { maxKeys: 4 }),
}) as fc.Arbitrary<KubeObject>;
const typedValue = fc.oneof(
  fc.record({ type: fc.constant('string'), value: fc.string() }),
  fc.record({ type: fc.constant('int'), value: fc.integer().map(String) }),
  fc.record({ type: fc.constant('bool'), value: fc.constantFrom('true', 'false', '1', '0', 'T', 'F') }),
  fc.record({
    type: fc.constant('slice'),
    value: fc.array(name, { minLength: 1, maxLength: 3 }).map((a) => a.join(',')),
  }),
  fc.record({
    type: fc.constant('keypair'),
    value: fc
      .array(fc.tuple(name, name), { minLength: 1, maxLength: 3 })
      .map((a) => a.map(([k, v]) => `${k}:${v}`).join(',')),
  }),
);

/** Whether `data.<a>` exists and is not a map, so a path through it cannot be added. */
const throughNonMap = (obj: KubeObject, a: string) => {
  const v = (obj['data'] as Record<string, unknown>)[a];
  return a in (obj['data'] as object) && (typeof v !== 'object' || v === null || Array.isArray(v));
};

describe('applyTransformations: properties', () => {
  it('never changes its input, and a spec that selects nothing changes nothing', () => {
    fc.assert(
      fc.property(object, name, name, typedValue, (obj, a, b, tv) => {
        const before = JSON.parse(JSON.stringify(obj));
        const add = { path: `data.${a}.${b}`, ...tv, operation: 'add' };
        if (throughNonMap(obj, a))
          expect(() => applyTransformations(obj, [one('/v1/ConfigMap', [add])])).toThrow(
            `path: cannot add it on ConfigMap ${(obj.metadata as { name: string }).name}: data.${a} is`,
          );
        else applyTransformations(obj, [one('/v1/ConfigMap', [add])]);
        expect(obj).toEqual(before);
        const other = applyTransformations(obj, [one('/v1/Secret', [add])]);
        expect(other).toEqual({ object: before, applied: [] });
      }),
    );
  });
  it('add then read gives the parsed value; add then delete leaves only the created maps', () => {
    fc.assert(
      fc.property(object, name, name, typedValue, (obj, a, b, tv) => {
        const data = obj['data'] as Record<string, unknown>;
        const fresh = !(a in data);
        const path = `data.${a}.${b}`;
        // A path through a list or a scalar is refused, naming it (first property).
        fc.pre(!throughNonMap(obj, a));
        const added = applyTransformations(obj, [
          one('/v1/ConfigMap', [{ path, ...tv, operation: 'add' }]),
        ]).object;
        const at = added['data'] as Record<string, Record<string, unknown>>;
        if (tv.type === 'int') expect(at[a]![b]).toBe(Number(tv.value));
        if (tv.type === 'string') expect(at[a]![b]).toBe(tv.value);
        const both = applyTransformations(obj, [
          one('/v1/ConfigMap', [
            { path, ...tv, operation: 'add' },
            { path, operation: 'delete' },
          ]),
        ]).object;
        const expected = JSON.parse(JSON.stringify(obj));
        if (fresh) expected.data[a] = {};
        else delete expected.data[a][b];
        expected.metadata.annotations = { [TRANSFORMED_ANNOTATION]: 'true' };
        expect(both).toEqual(expected);
      }),
    );
  });
  it('modify merges a keypair and appends a slice: old entries kept, new ones present', () => {
    fc.assert(
      fc.property(
        object,
        typedValue.filter((t) => t.type === 'keypair' || t.type === 'slice'),
        (obj, tv) => {
          const labels = (obj['metadata'] as { labels: Record<string, string> }).labels;
          if (tv.type === 'keypair') {
            const out = applyTransformations(obj, [
              one('/v1/ConfigMap', [{ path: 'metadata.labels', ...tv, operation: 'modify' }]),
            ]);
            const merged = (out.object['metadata'] as { labels: Record<string, string> }).labels;
            const pairs = tv.value.split(',').map((p) => p.split(':') as [string, string]);
            expect(merged).toEqual({ ...labels, ...Object.fromEntries(pairs) });
          } else {
            const start = { ...obj, data: { list: ['x'] } };
            const out = applyTransformations(start, [
              one('/v1/ConfigMap', [{ path: 'data.list', ...tv, operation: 'modify' }]),
            ]);
            expect((out.object['data'] as { list: string[] }).list).toEqual(['x', ...tv.value.split(',')]);
          }
        },
      ),
    );
  });
});
