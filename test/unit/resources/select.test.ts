// Which kinds and objects a migration takes (STORK-COMPAT.md, "Migrating resources"): table tests
// for each rule of isCollectedKind and skipReason, properties of matchesSelectors, and
// preferredKinds' choice of one version per group/kind.
import fc from 'fast-check';
import type { KubeObject, ResourceKind } from '../../../resources/objects.js';
import {
  isCollectedKind,
  matchesSelectors,
  preferredKinds,
  skipReason,
  type SelectionSpec,
} from '../../../resources/select.js';

const kind = (group: string, k: string, over: Partial<ResourceKind> = {}): ResourceKind => ({
  group,
  version: 'v1',
  kind: k,
  plural: `${k.toLowerCase()}s`,
  namespaced: true,
  ...over,
});

describe('isCollectedKind', () => {
  it.each<[string, ResourceKind, SelectionSpec, boolean]>([
    ['Deployment', kind('apps', 'Deployment'), {}, true],
    ['ConfigMap', kind('', 'ConfigMap'), {}, true],
    ['PersistentVolumeClaim', kind('', 'PersistentVolumeClaim'), {}, true],
    ['a namespaced custom resource', kind('example.com', 'Widget'), {}, true],
    ['Pod (generated)', kind('', 'Pod'), {}, false],
    ['core Event (generated)', kind('', 'Event'), {}, false],
    ['events.k8s.io Event (generated)', kind('events.k8s.io', 'Event'), {}, false],
    ['Endpoints (generated)', kind('', 'Endpoints'), {}, false],
    ['EndpointSlice (generated)', kind('discovery.k8s.io', 'EndpointSlice'), {}, false],
    ['ControllerRevision (generated)', kind('apps', 'ControllerRevision'), {}, false],
    ['Lease (generated)', kind('coordination.k8s.io', 'Lease'), {}, false],
    ['PodMetrics (generated)', kind('metrics.k8s.io', 'PodMetrics'), {}, false],
    ['LocalSubjectAccessReview', kind('authorization.k8s.io', 'LocalSubjectAccessReview'), {}, false],
    ['CSIStorageCapacity', kind('storage.k8s.io', 'CSIStorageCapacity'), {}, false],
    ['a kind named Pod in another group', kind('example.com', 'Pod'), {}, true],
    ['Stork Migration', kind('stork.libopenstorage.org', 'Migration'), {}, false],
    ['Stork ClusterPair', kind('stork.libopenstorage.org', 'ClusterPair'), {}, false],
    ['a Stork-like other group', kind('libopenstorage.org', 'Thing'), {}, true],
    ['cluster-scoped PersistentVolume', kind('', 'PersistentVolume', { namespaced: false }), {}, false],
    ['cluster-scoped Namespace', kind('', 'Namespace', { namespaced: false }), {}, false],
    [
      'cluster-scoped ClusterRole',
      kind('rbac.authorization.k8s.io', 'ClusterRole', { namespaced: false }),
      {},
      false,
    ],
    ['Job by default', kind('batch', 'Job'), {}, false],
    ['Job, optional types empty', kind('batch', 'Job'), { includeOptionalResourceTypes: [] }, false],
    ['Job, optional "job"', kind('batch', 'Job'), { includeOptionalResourceTypes: ['job'] }, true],
    ['Job, optional "Job"', kind('batch', 'Job'), { includeOptionalResourceTypes: ['Job'] }, true],
    ['Job, optional "JOB"', kind('batch', 'Job'), { includeOptionalResourceTypes: ['JOB'] }, true],
    [
      'Job, optional "jobs" (not the kind)',
      kind('batch', 'Job'),
      { includeOptionalResourceTypes: ['jobs'] },
      false,
    ],
    [
      'Job, optional but also excluded',
      kind('batch', 'Job'),
      { includeOptionalResourceTypes: ['job'], excludeResourceTypes: ['Job'] },
      false,
    ],
    ['a Job kind in another group is not optional', kind('example.com', 'Job'), {}, true],
    ['CronJob is not optional', kind('batch', 'CronJob'), {}, true],
    ['excluded "Secret"', kind('', 'Secret'), { excludeResourceTypes: ['Secret'] }, false],
    ['excluded "secret"', kind('', 'Secret'), { excludeResourceTypes: ['secret'] }, false],
    ['excluded "SECRET"', kind('', 'Secret'), { excludeResourceTypes: ['SECRET'] }, false],
    ['excluded "configmap" leaves Secret', kind('', 'Secret'), { excludeResourceTypes: ['configmap'] }, true],
    ['excluded custom kind', kind('example.com', 'Widget'), { excludeResourceTypes: ['widget'] }, false],
  ])('%s -> %p', (_name, k, spec, want) => {
    expect(isCollectedKind(k, spec)).toBe(want);
  });

  it('excludeResourceTypes takes a Kind whatever the case, and nothing else', () => {
    const names = ['Deployment', 'ConfigMap', 'Secret', 'Service', 'Widget'];
    fc.assert(
      fc.property(
        fc.constantFrom(...names),
        fc.constantFrom(...names),
        fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
        (k, excluded, upper) => {
          const cased = [...excluded]
            .map((c, i) => (upper[i % 12] ? c.toUpperCase() : c.toLowerCase()))
            .join('');
          expect(isCollectedKind(kind('example.com', k), { excludeResourceTypes: [cased] })).toBe(
            k !== excluded,
          );
        },
      ),
    );
  });
});

const obj = (
  name: string,
  meta: Partial<NonNullable<KubeObject['metadata']>> = {},
  rest: Record<string, unknown> = {},
): KubeObject => ({ metadata: { name, namespace: 'app', ...meta }, ...rest });

const COLLECTED = new Set(['Deployment', 'StatefulSet', 'ReplicaSet', 'ConfigMap', 'CronJob']);
const SKIP = 'stork.libopenstorage.org/skip-resource';

const policy = (spec: Record<string, unknown>): KubeObject => obj('np', {}, { spec });
const NP = kind('networking.k8s.io', 'NetworkPolicy');

describe('skipReason', () => {
  it.each<[string, ResourceKind, KubeObject, SelectionSpec, string | null]>([
    ['a plain Deployment', kind('apps', 'Deployment'), obj('web'), {}, null],
    ['the kubernetes Service', kind('', 'Service'), obj('kubernetes'), {}, 'created by the cluster'],
    ['another Service', kind('', 'Service'), obj('mysql'), {}, null],
    ['a custom kind named kubernetes', kind('example.com', 'Service'), obj('kubernetes'), {}, null],
    ['kube-root-ca.crt', kind('', 'ConfigMap'), obj('kube-root-ca.crt'), {}, 'created by the cluster'],
    ['another ConfigMap', kind('', 'ConfigMap'), obj('settings'), {}, null],
    ['a Secret named kube-root-ca.crt', kind('', 'Secret'), obj('kube-root-ca.crt'), {}, null],
    ['the default ServiceAccount', kind('', 'ServiceAccount'), obj('default'), {}, 'created by the cluster'],
    ['another ServiceAccount', kind('', 'ServiceAccount'), obj('builder'), {}, null],
    ['a ConfigMap named default', kind('', 'ConfigMap'), obj('default'), {}, null],
    [
      'a service-account token Secret',
      kind('', 'Secret'),
      obj('builder-token-x7k2p', {}, { type: 'kubernetes.io/service-account-token' }),
      {},
      'service-account token, created by the cluster',
    ],
    ['an Opaque Secret', kind('', 'Secret'), obj('db-password', {}, { type: 'Opaque' }), {}, null],
    ['a Secret without a type', kind('', 'Secret'), obj('db-password'), {}, null],
    [
      'annotated skip-resource "true"',
      kind('', 'ConfigMap'),
      obj('c', { annotations: { [SKIP]: 'true' } }),
      {},
      `annotated ${SKIP}`,
    ],
    [
      'annotated skip-resource "false"',
      kind('', 'ConfigMap'),
      obj('c', { annotations: { [SKIP]: 'false' } }),
      {},
      null,
    ],
    ['skip-resource as a label', kind('', 'ConfigMap'), obj('c', { labels: { [SKIP]: 'true' } }), {}, null],
    [
      'selector matches',
      kind('', 'ConfigMap'),
      obj('c', { labels: { app: 'web', tier: 'fe' } }),
      { selectors: { app: 'web' } },
      null,
    ],
    [
      'selector value differs',
      kind('', 'ConfigMap'),
      obj('c', { labels: { app: 'db' } }),
      { selectors: { app: 'web' } },
      'labels do not match',
    ],
    [
      'selector label missing',
      kind('', 'ConfigMap'),
      obj('c'),
      { selectors: { app: 'web' } },
      'labels do not match',
    ],
    [
      'one of two selectors missing',
      kind('', 'ConfigMap'),
      obj('c', { labels: { app: 'web' } }),
      { selectors: { app: 'web', tier: 'fe' } },
      'labels do not match',
    ],
    [
      'excludeSelectors label equal',
      kind('', 'ConfigMap'),
      obj('c', { labels: { app: 'web', temp: 'yes' } }),
      { excludeSelectors: { temp: 'yes' } },
      'labels do not match',
    ],
    [
      'excludeSelectors label different',
      kind('', 'ConfigMap'),
      obj('c', { labels: { temp: 'no' } }),
      { excludeSelectors: { temp: 'yes' } },
      null,
    ],
    [
      'excludeSelectors label absent',
      kind('', 'ConfigMap'),
      obj('c'),
      { excludeSelectors: { temp: 'yes' } },
      null,
    ],
    [
      'owned by a Pod',
      kind('', 'ConfigMap'),
      obj('c', { ownerReferences: [{ kind: 'Pod', name: 'web-0' }] }),
      {},
      'owned by Pod web-0',
    ],
    [
      'a ReplicaSet owned by a collected Deployment',
      kind('apps', 'ReplicaSet'),
      obj('web-5d4f', { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }] }),
      {},
      'owned by Deployment web',
    ],
    [
      'owned by a collected kind, without a name',
      kind('batch', 'Job'),
      obj('nightly-1', { ownerReferences: [{ kind: 'CronJob' }] }),
      {},
      'owned by CronJob',
    ],
    [
      'owned by an uncollected kind',
      kind('', 'ConfigMap'),
      obj('c', { ownerReferences: [{ kind: 'Operator', name: 'op' }] }),
      {},
      null,
    ],
    [
      'owned by an uncollected kind and a collected one',
      kind('', 'ConfigMap'),
      obj('c', {
        ownerReferences: [
          { kind: 'Operator', name: 'op' },
          { kind: 'StatefulSet', name: 'db' },
        ],
      }),
      {},
      'owned by StatefulSet db',
    ],
    [
      'an owner reference without a kind',
      kind('', 'ConfigMap'),
      obj('c', { ownerReferences: [{ name: 'x' }] }),
      {},
      null,
    ],
    [
      'owned by a Pod, ignoreOwnerReferencesCheck',
      kind('', 'ConfigMap'),
      obj('c', { ownerReferences: [{ kind: 'Pod', name: 'web-0' }] }),
      { ignoreOwnerReferencesCheck: true },
      null,
    ],
    [
      'owned by a Deployment, ignoreOwnerReferencesCheck',
      kind('apps', 'ReplicaSet'),
      obj('web-5d4f', { ownerReferences: [{ kind: 'Deployment', name: 'web' }] }),
      { ignoreOwnerReferencesCheck: true },
      null,
    ],
    [
      'NetworkPolicy without ipBlock',
      NP,
      policy({
        podSelector: {},
        ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }] }],
        egress: [{ to: [{ namespaceSelector: {} }] }],
      }),
      {},
      null,
    ],
    [
      'NetworkPolicy with ipBlock in ingress.from',
      NP,
      policy({ ingress: [{ from: [{ podSelector: {} }, { ipBlock: { cidr: '10.0.0.0/8' } }] }] }),
      {},
      'NetworkPolicy with CIDR rules (includeNetworkPolicyWithCIDR is false)',
    ],
    [
      'NetworkPolicy with ipBlock in egress.to',
      NP,
      policy({
        egress: [
          { ports: [{ port: 53 }] },
          { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } }] },
        ],
      }),
      {},
      'NetworkPolicy with CIDR rules (includeNetworkPolicyWithCIDR is false)',
    ],
    [
      'NetworkPolicy with ipBlock in ingress.from, includeNetworkPolicyWithCIDR',
      NP,
      policy({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }] }),
      { includeNetworkPolicyWithCIDR: true },
      null,
    ],
    [
      'NetworkPolicy with ipBlock in egress.to, includeNetworkPolicyWithCIDR',
      NP,
      policy({ egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }] }] }),
      { includeNetworkPolicyWithCIDR: true },
      null,
    ],
    [
      'ipBlock in ingress.to / egress.from is not a peer',
      NP,
      policy({
        ingress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }],
        egress: [{ from: [{ ipBlock: {} }] }],
      }),
      {},
      null,
    ],
    [
      'a custom NetworkPolicy kind with ipBlock',
      kind('example.com', 'NetworkPolicy'),
      policy({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }] }),
      {},
      null,
    ],
    ['NetworkPolicy without spec', NP, obj('np'), {}, null],
  ])('%s -> %p', (_name, k, o, spec, want) => {
    expect(skipReason(k, o, spec, COLLECTED)).toBe(want);
  });

  it('never changes the object it judges', () => {
    const o = obj('c', { labels: { a: 'b' }, ownerReferences: [{ kind: 'Pod', name: 'p' }] });
    const before = structuredClone(o);
    skipReason(kind('', 'ConfigMap'), o, { selectors: { a: 'b' } }, COLLECTED);
    expect(o).toEqual(before);
  });
});

const labelKey = fc.constantFrom('app', 'tier', 'env', 'team', 'example.com/role');
const labelValue = fc.constantFrom('web', 'db', 'fe', 'prod', 'dev', '');
const labelMap = fc.dictionary(labelKey, labelValue, { maxKeys: 5 });

describe('matchesSelectors', () => {
  it('an empty or missing selector matches any labels', () => {
    fc.assert(
      fc.property(labelMap, (labels) => {
        expect(matchesSelectors(labels, undefined, undefined)).toBe(true);
        expect(matchesSelectors(labels, {}, {})).toBe(true);
      }),
    );
  });

  it('a selector made of some of the labels matches', () => {
    fc.assert(
      fc.property(labelMap, fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }), (labels, keep) => {
        const selectors = Object.fromEntries(Object.entries(labels).filter((_e, i) => keep[i]));
        expect(matchesSelectors(labels, selectors, undefined)).toBe(true);
      }),
    );
  });

  it('adding an exclude label equal to a present label rejects', () => {
    fc.assert(
      fc.property(labelMap, labelMap, labelMap, fc.nat(), (labels, selectors, excludes, pick) => {
        const entries = Object.entries(labels);
        fc.pre(entries.length > 0);
        const [k, v] = entries[pick % entries.length]!;
        expect(matchesSelectors(labels, selectors, { ...excludes, [k]: v })).toBe(false);
      }),
    );
  });

  it('adding a selector label that is absent rejects', () => {
    fc.assert(
      fc.property(labelMap, labelMap, (labels, selectors) => {
        expect(matchesSelectors(labels, { ...selectors, 'absent.example.com/x': 'y' }, undefined)).toBe(
          false,
        );
      }),
    );
  });

  it('agrees with "every selector equal and no exclude equal"', () => {
    fc.assert(
      fc.property(labelMap, labelMap, labelMap, (labels, selectors, excludes) => {
        const want =
          Object.entries(selectors).every(([k, v]) => Object.hasOwn(labels, k) && labels[k] === v) &&
          !Object.entries(excludes).some(([k, v]) => Object.hasOwn(labels, k) && labels[k] === v);
        expect(matchesSelectors(labels, selectors, excludes)).toBe(want);
      }),
    );
  });

  it.each<
    [
      string,
      Record<string, string>,
      Record<string, string> | undefined,
      Record<string, string> | undefined,
      boolean,
    ]
  >([
    ['empty labels, empty value selector', {}, { app: '' }, undefined, false],
    ['empty value present', { app: '' }, { app: '' }, undefined, true],
    ['exclude with empty value, label absent', {}, undefined, { app: '' }, true],
    ['exclude another value', { app: 'web' }, undefined, { app: 'db' }, true],
  ])('%s -> %p', (_name, labels, selectors, excludes, want) => {
    expect(matchesSelectors(labels, selectors, excludes)).toBe(want);
  });
});

describe('preferredKinds', () => {
  const k = (group: string, version: string, name: string): ResourceKind => ({
    group,
    version,
    kind: name,
    plural: `${name.toLowerCase()}s`,
    namespaced: true,
  });

  it('keeps the preferred version when it is listed, whatever its position', () => {
    const kinds = [
      k('autoscaling', 'v1', 'HPA'),
      k('autoscaling', 'v2', 'HPA'),
      k('autoscaling', 'v2beta2', 'HPA'),
    ];
    expect(preferredKinds(kinds, new Map([['autoscaling', 'v2']]))).toEqual([k('autoscaling', 'v2', 'HPA')]);
    expect(preferredKinds([...kinds].reverse(), new Map([['autoscaling', 'v2']]))).toEqual([
      k('autoscaling', 'v2', 'HPA'),
    ]);
    expect(preferredKinds(kinds, new Map([['autoscaling', 'v1']]))).toEqual([k('autoscaling', 'v1', 'HPA')]);
  });

  it('keeps the first listed when the preferred version does not serve the kind', () => {
    const kinds = [
      k('example.com', 'v1beta1', 'Old'),
      k('example.com', 'v1alpha1', 'Old'),
      k('example.com', 'v2', 'New'),
    ];
    expect(preferredKinds(kinds, new Map([['example.com', 'v2']]))).toEqual([
      k('example.com', 'v1beta1', 'Old'),
      k('example.com', 'v2', 'New'),
    ]);
    expect(preferredKinds(kinds, new Map())).toEqual([
      k('example.com', 'v1beta1', 'Old'),
      k('example.com', 'v2', 'New'),
    ]);
  });

  it('treats the same kind name in two groups as two kinds', () => {
    const kinds = [k('a.example.com', 'v1', 'Widget'), k('b.example.com', 'v1', 'Widget')];
    expect(preferredKinds(kinds, new Map())).toEqual(kinds);
  });

  const group = fc.constantFrom('', 'apps', 'example.com', 'batch');
  const version = fc.constantFrom('v1', 'v1beta1', 'v2', 'v1alpha1');
  const name = fc.constantFrom('Widget', 'Gadget', 'Deployment');
  const kinds = fc.array(
    fc.tuple(group, version, name).map(([g, v, n]) => k(g, v, n)),
    { maxLength: 20 },
  );
  const preferred = fc.dictionary(group, version).map((d) => new Map(Object.entries(d)));

  it('gives one entry per listed group/kind, each an input, preferred version when served, else first', () => {
    fc.assert(
      fc.property(kinds, preferred, (list, pref) => {
        const out = preferredKinds(list, pref);
        const keys = out.map((o) => `${o.group}/${o.kind}`);
        expect(new Set(keys).size).toBe(keys.length);
        expect(new Set(keys)).toEqual(new Set(list.map((o) => `${o.group}/${o.kind}`)));
        for (const chosen of out) {
          const same = list.filter((o) => o.group === chosen.group && o.kind === chosen.kind);
          const want = same.find((o) => o.version === pref.get(o.group)) ?? same[0];
          expect(chosen).toEqual(want);
        }
      }),
    );
  });
});
