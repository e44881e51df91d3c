// What applying a migration changes on the standby: create/update/unchanged by resource-hash, what
// purgeDeletedResources deletes (STORK-COMPAT.md: only migrated objects the source no longer has,
// never ServiceAccounts), and the order kinds are applied in.
import fc from 'fast-check';
import type { KubeObject } from '../../../resources/objects.js';
import { applyAction, applyRank, isPurgeable, purgeList } from '../../../resources/plan.js';

const MIGRATED = 'stork.libopenstorage.org/migrated';
const HASH = 'stork.libopenstorage.org/resource-hash';

const o = (name: string, annotations?: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'db', ...(annotations ? { annotations } : {}) },
});

describe('applyAction', () => {
  it.each<[string, KubeObject, KubeObject | undefined, string]>([
    ['nothing on the standby', o('a', { [HASH]: 'h1' }), undefined, 'create'],
    ['nothing on the standby, no hash', o('a'), undefined, 'create'],
    ['same hash', o('a', { [HASH]: 'h1' }), o('a', { [HASH]: 'h1', other: 'x' }), 'unchanged'],
    ['different hash', o('a', { [HASH]: 'h2' }), o('a', { [HASH]: 'h1' }), 'update'],
    ['standby object without a hash', o('a', { [HASH]: 'h1' }), o('a'), 'update'],
    ['standby object with other annotations only', o('a', { [HASH]: 'h1' }), o('a', { x: 'h1' }), 'update'],
    ['desired without a hash (a PV), standby without one either', o('pv'), o('pv'), 'update'],
    ['desired without a hash, standby with one', o('pv'), o('pv', { [HASH]: 'h1' }), 'update'],
    ['empty hash on both', o('a', { [HASH]: '' }), o('a', { [HASH]: '' }), 'unchanged'],
  ])('%s -> %s', (_name, desired, existing, want) => {
    expect(applyAction(desired, existing)).toBe(want);
  });

  it('is unchanged exactly when both carry the same hash', () => {
    const hash = fc.option(fc.constantFrom('h1', 'h2', 'h3'), { nil: undefined });
    fc.assert(
      fc.property(hash, hash, fc.boolean(), (want, have, exists) => {
        const desired = o('a', want === undefined ? {} : { [HASH]: want });
        const existing = exists ? o('a', have === undefined ? {} : { [HASH]: have }) : undefined;
        const expected = !exists ? 'create' : want !== undefined && want === have ? 'unchanged' : 'update';
        expect(applyAction(desired, existing)).toBe(expected);
      }),
    );
  });
});

const SA = { group: '', kind: 'ServiceAccount' };
const CM = { group: '', kind: 'ConfigMap' };

describe('isPurgeable', () => {
  it.each<[string, { group: string; kind: string }, KubeObject, boolean]>([
    ['a migrated ConfigMap', CM, o('a', { [MIGRATED]: 'true' }), true],
    ['a migrated Deployment', { group: 'apps', kind: 'Deployment' }, o('a', { [MIGRATED]: 'true' }), true],
    [
      'a migrated custom resource',
      { group: 'example.com', kind: 'Widget' },
      o('w', { [MIGRATED]: 'true' }),
      true,
    ],
    ['an object made on the standby', CM, o('a'), false],
    ['migrated "false"', CM, o('a', { [MIGRATED]: 'false' }), false],
    ['migrated "True" (not Stork\'s spelling)', CM, o('a', { [MIGRATED]: 'True' }), false],
    ['a migrated ServiceAccount', SA, o('builder', { [MIGRATED]: 'true' }), false],
    [
      'a migrated custom ServiceAccount kind',
      { group: 'example.com', kind: 'ServiceAccount' },
      o('x', { [MIGRATED]: 'true' }),
      true,
    ],
    ['migrated as a label only', CM, { metadata: { name: 'a', labels: { [MIGRATED]: 'true' } } }, false],
    ['no metadata', CM, {}, false],
  ])('%s -> %p', (_name, kind, existing, want) => {
    expect(isPurgeable(kind, existing)).toBe(want);
  });
});

describe('purgeList', () => {
  it('deletes the migrated objects the source no longer has, and nothing else', () => {
    const standby = [
      o('kept', { [MIGRATED]: 'true' }),
      o('gone', { [MIGRATED]: 'true' }),
      o('local-only'),
      o('gone-too', { [MIGRATED]: 'true', other: 'x' }),
    ];
    expect(purgeList(CM, standby, new Set(['kept', 'local-only']))).toEqual([standby[1], standby[3]]);
  });

  it('never deletes ServiceAccounts', () => {
    const standby = [o('builder', { [MIGRATED]: 'true' }), o('default', { [MIGRATED]: 'true' })];
    expect(purgeList(SA, standby, new Set())).toEqual([]);
  });

  it('returns the standby objects themselves, in their order, and changes nothing', () => {
    const standby = [o('b', { [MIGRATED]: 'true' }), o('a', { [MIGRATED]: 'true' })];
    const before = structuredClone(standby);
    const out = purgeList(CM, standby, new Set());
    expect(out[0]).toBe(standby[0]);
    expect(out[1]).toBe(standby[1]);
    expect(standby).toEqual(before);
  });

  const names = fc.constantFrom('a', 'b', 'c', 'd', 'e');
  const entry = fc.record({
    name: names,
    migrated: fc.constantFrom<string | undefined>('true', 'false', undefined),
  });

  it('= the migrated standby objects whose names the source lacks', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 8 }), fc.uniqueArray(names), (entries, source) => {
        const standby = entries.map((e) =>
          o(e.name, e.migrated === undefined ? {} : { [MIGRATED]: e.migrated }),
        );
        const sourceNames = new Set<string>(source);
        const out = purgeList(CM, standby, sourceNames);
        expect(out).toEqual(
          standby.filter((s, i) => entries[i]!.migrated === 'true' && !sourceNames.has(s.metadata!.name!)),
        );
        for (const gone of out) expect(sourceNames.has(gone.metadata!.name!)).toBe(false);
        expect(purgeList(SA, standby, sourceNames)).toEqual([]);
      }),
    );
  });
});

describe('applyRank', () => {
  const order: Array<[string, string]> = [
    ['apiextensions.k8s.io', 'CustomResourceDefinition'],
    ['', 'Namespace'],
    ['', 'PersistentVolume'],
    ['', 'PersistentVolumeClaim'],
    ['', 'ServiceAccount'],
    ['rbac.authorization.k8s.io', 'Role'],
    ['rbac.authorization.k8s.io', 'RoleBinding'],
    ['', 'Secret'],
    ['', 'ConfigMap'],
    ['', 'LimitRange'],
    ['', 'ResourceQuota'],
    ['', 'Service'],
  ];
  const others: Array<[string, string]> = [
    ['apps', 'Deployment'],
    ['apps', 'StatefulSet'],
    ['batch', 'CronJob'],
    ['networking.k8s.io', 'NetworkPolicy'],
    ['example.com', 'Widget'],
    ['example.com', 'Service'],
    ['', 'PodDisruptionBudget'],
    ['apiextensions.k8s.io', 'Namespace'],
  ];
  const rank = ([group, kind]: [string, string]) => applyRank({ group, kind });

  it('ranks CRD < Namespace < PV < PVC < ServiceAccount < Role < RoleBinding < Secret < ConfigMap < ... < Service', () => {
    const ranks = order.map(rank);
    for (let i = 1; i < ranks.length; i++) expect(ranks[i]).toBeGreaterThan(ranks[i - 1]!);
  });

  it.each(others)('ranks %p/%p after every listed kind, with the other unlisted ones', (group, kind) => {
    const r = rank([group, kind]);
    for (const listed of order) expect(r).toBeGreaterThan(rank(listed));
    expect(r).toBe(rank(others[0]!));
  });

  it('sorting by rank puts a shuffled list in apply order, stably for the unlisted kinds', () => {
    fc.assert(
      fc.property(fc.shuffledSubarray([...order, ...others]), (kinds) => {
        const sorted = [...kinds].sort((a, b) => rank(a) - rank(b));
        const listed = sorted.filter((k) => order.includes(k));
        expect(listed).toEqual(order.filter((k) => kinds.includes(k)));
        const firstOther = sorted.findIndex((k) => others.includes(k));
        if (firstOther >= 0) expect(sorted.slice(firstOther).every((k) => others.includes(k))).toBe(true);
        expect(sorted.filter((k) => others.includes(k))).toEqual(kinds.filter((k) => others.includes(k)));
      }),
    );
  });
});
