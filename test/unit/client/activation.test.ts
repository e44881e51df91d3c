// What activate/deactivate decide from the standby's objects and the agent's answers.
import {
  migratedVolumes,
  planSchedules,
  planVolumes,
  podsUsingClaims,
  planWorkloads,
  promotedMessage,
  type MigratedVolume,
  type VolumeState,
} from '../../../client/activation.js';
import type { KubeObject } from '../../../resources/objects.js';

const ROOT = '/var/lib/ferry/dest/volumes';
const MIGRATED = 'stork.libopenstorage.org/migrated';
const REPLICAS = 'stork.libopenstorage.org/migrationReplicas';

const pvc = (namespace: string, name: string, volumeName?: string): KubeObject => ({
  metadata: { namespace, name },
  spec: volumeName ? { volumeName } : {},
});
const pv = (name: string, path: string | undefined, migrated = true): KubeObject => ({
  metadata: { name, annotations: migrated ? { [MIGRATED]: 'true' } : {} },
  spec: path === undefined ? { local: { path: '/x' } } : { hostPath: { path } },
});

describe('migratedVolumes', () => {
  const pvs = [
    pv('pv-a', `${ROOT}/vol-a`),
    pv('pv-b', `${ROOT}/vol-b/`),
    pv('pv-native', `${ROOT}/native`, false),
    pv('pv-elsewhere', '/srv/data/vol-c'),
    pv('pv-nested', `${ROOT}/x/vol-d`),
    pv('pv-local', undefined),
  ];

  it.each<[string, KubeObject, Partial<MigratedVolume> | string | null]>([
    ['a migrated PV under the root', pvc('ns', 'a', 'pv-a'), { volume: 'vol-a', path: `${ROOT}/vol-a` }],
    ['a trailing slash is ignored', pvc('ns', 'b', 'pv-b'), { volume: 'vol-b', path: `${ROOT}/vol-b` }],
    ['a PV the migration did not make', pvc('ns', 'n', 'pv-native'), null],
    ['an unbound PVC', pvc('ns', 'u'), null],
    ['a PVC of a PV that is not there', pvc('ns', 'g', 'pv-gone'), null],
    [
      'a PV outside the root',
      pvc('ns', 'e', 'pv-elsewhere'),
      'pvc ns/e: pv pv-elsewhere is not a volume of the agent',
    ],
    [
      'a PV below a subdirectory',
      pvc('ns', 'd', 'pv-nested'),
      'hostPath /var/lib/ferry/dest/volumes/x/vol-d',
    ],
    ['a PV without hostPath', pvc('ns', 'l', 'pv-local'), 'no hostPath'],
  ])('%s', (_, claim, expected) => {
    const r = migratedVolumes([claim], pvs, `${ROOT}/`);
    if (expected === null) {
      expect(r).toEqual({ volumes: [], warnings: [] });
    } else if (typeof expected === 'string') {
      expect(r.volumes).toEqual([]);
      expect(r.warnings).toHaveLength(1);
      expect(r.warnings[0]).toContain(expected);
    } else {
      expect(r.warnings).toEqual([]);
      expect(r.volumes).toEqual([
        {
          namespace: 'ns',
          pvc: claim.metadata!.name,
          pv: (claim['spec'] as { volumeName: string }).volumeName,
          ...expected,
        },
      ]);
    }
  });

  it('without an agent warns for each migrated volume and returns none', () => {
    const r = migratedVolumes([pvc('ns', 'a', 'pv-a'), pvc('ns', 'n', 'pv-native')], pvs, undefined);
    expect(r.volumes).toEqual([]);
    expect(r.warnings).toEqual([
      'pvc ns/a: volume of pv pv-a not promoted: no agent given (--agent-url or FERRY_AGENT_URL)',
    ]);
  });

  it('orders by namespace and name', () => {
    const r = migratedVolumes([pvc('z', 'a', 'pv-a'), pvc('a', 'b', 'pv-b')], pvs, ROOT);
    expect(r.volumes.map((v) => `${v.namespace}/${v.pvc}`)).toEqual(['a/b', 'z/a']);
  });
});

describe('planVolumes', () => {
  const v = (pvcName: string, volume: string): MigratedVolume => ({
    namespace: 'ns',
    pvc: pvcName,
    pv: `pv-${volume}`,
    volume,
    path: `${ROOT}/${volume}`,
  });
  const state = (entries: Record<string, VolumeState>) => new Map(Object.entries(entries));

  it.each<[string, MigratedVolume[], Record<string, VolumeState>, string[], string[], number]>([
    [
      'promotes a volume with a restore point',
      [v('a', 'x')],
      { x: { exists: false, latestRestorePoint: 'rp1' } },
      ['x'],
      [],
      0,
    ],
    [
      'skips a volume already promoted from the latest restore point',
      [v('a', 'x')],
      { x: { exists: true, latestRestorePoint: 'rp1', promotedFrom: 'rp1' } },
      [],
      ['x'],
      0,
    ],
    [
      'replaces a volume promoted from an older restore point',
      [v('a', 'x')],
      { x: { exists: true, latestRestorePoint: 'rp2', promotedFrom: 'rp1' } },
      ['x'],
      [],
      0,
    ],
    [
      'replaces a path the agent did not promote (failback: the old active data)',
      [v('a', 'x')],
      { x: { exists: true, latestRestorePoint: 'rp1', promotedFrom: null } },
      ['x'],
      [],
      0,
    ],
    [
      'refuses a path without any restore point even when it exists',
      [v('a', 'x')],
      { x: { exists: true, latestRestorePoint: null } },
      [],
      [],
      1,
    ],
    [
      'refuses a volume without restore point',
      [v('a', 'x')],
      { x: { exists: false, latestRestorePoint: null } },
      [],
      [],
      1,
    ],
    ['refuses a volume the agent was not asked about', [v('a', 'x')], {}, [], [], 1],
    [
      'promotes a volume shared by two claims once',
      [v('a', 'x'), v('b', 'x')],
      { x: { exists: false, latestRestorePoint: 'rp1' } },
      ['x'],
      ['x'],
      0,
    ],
    [
      'one refusal among good volumes',
      [v('a', 'x'), v('b', 'y'), v('c', 'z')],
      {
        x: { exists: false, latestRestorePoint: 'rp1' },
        y: { exists: false, latestRestorePoint: null },
        z: { exists: true, latestRestorePoint: 'rp2', promotedFrom: 'rp2' },
      },
      ['x'],
      ['z'],
      1,
    ],
  ])('%s', (_, volumes, agent, promote, already, refusals) => {
    const plan = planVolumes(volumes, state(agent));
    expect(plan.promote.map((p) => p.volume)).toEqual(promote);
    expect(plan.alreadyPromoted.map((p) => p.volume)).toEqual(already);
    expect(plan.refusals).toHaveLength(refusals);
  });

  it('replaces only what exists, and never under a running pod', () => {
    const plan = planVolumes(
      [v('a', 'x'), v('b', 'y')],
      state({
        x: { exists: true, latestRestorePoint: 'rp2', promotedFrom: null },
        y: { exists: false, latestRestorePoint: 'rp1' },
      }),
    );
    expect(plan.promote.map((p) => [p.volume, p.replace])).toEqual([
      ['x', true],
      ['y', false],
    ]);
    const busy = planVolumes(
      [v('a', 'x')],
      state({ x: { exists: true, latestRestorePoint: 'rp2', promotedFrom: 'rp1' } }),
      new Map([['ns/a', 'app-0']]),
    );
    expect(busy.promote).toEqual([]);
    expect(busy.refusals).toEqual([
      `pvc ns/a: ${ROOT}/x holds data other than the latest restore point rp2 and pod ns/app-0 uses it; stop it (storkctl deactivate migrations, or scale it to 0) and activate again`,
    ]);
    // A pod on a volume that holds the latest restore point already changes nothing.
    const running = planVolumes(
      [v('a', 'x')],
      state({ x: { exists: true, latestRestorePoint: 'rp2', promotedFrom: 'rp2' } }),
      new Map([['ns/a', 'app-0']]),
    );
    expect(running.alreadyPromoted.map((p) => p.volume)).toEqual(['x']);
    expect(running.refusals).toEqual([]);
  });

  it('finds the pods that mount a claim, ignoring finished ones', () => {
    const pod = (name: string, phase: string, claims: string[]) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'ns' },
      spec: {
        volumes: [
          { name: 'tmp', emptyDir: {} },
          ...claims.map((c) => ({ name: c, persistentVolumeClaim: { claimName: c } })),
        ],
      },
      status: { phase },
    });
    expect(
      podsUsingClaims([
        pod('b', 'Running', ['data']),
        pod('a', 'Pending', ['data', 'logs']),
        pod('done', 'Succeeded', ['cache']),
      ]),
    ).toEqual(
      new Map([
        ['ns/data', 'a'],
        ['ns/logs', 'a'],
      ]),
    );
  });

  it('names the PVC and the volume when refusing', () => {
    const plan = planVolumes(
      [v('data', 'ghost')],
      state({ ghost: { exists: false, latestRestorePoint: null } }),
    );
    expect(plan.refusals).toEqual([
      "pvc ns/data: volume ghost has no restore point on the standby's agent (never migrated there?)",
    ]);
  });

  it('prints a promotion as one line', () => {
    expect(promotedMessage(v('data-postgres-0', 'pg'), 'rp-7', `${ROOT}/pg`)).toBe(
      `Promoted volume pg (restore point rp-7) to ${ROOT}/pg for pvc ns/data-postgres-0`,
    );
    expect(promotedMessage(v('d', 'pg'), 'rp-8', `${ROOT}/pg`, `${ROOT}/.replaced/pg-1`)).toBe(
      `Promoted volume pg (restore point rp-8) to ${ROOT}/pg for pvc ns/d (what was there moved to ${ROOT}/.replaced/pg-1)`,
    );
  });
});

describe('planWorkloads', () => {
  const workload = (
    name: string,
    replicas: number | undefined,
    annotation: string | undefined,
    owned = false,
  ): KubeObject => ({
    metadata: {
      namespace: 'shop',
      name,
      annotations: annotation === undefined ? {} : { [REPLICAS]: annotation },
      ...(owned ? { ownerReferences: [{ kind: 'Deployment', name: 'x' }] } : {}),
    },
    spec: replicas === undefined ? {} : { replicas },
  });
  const cronjob = (name: string, suspend: boolean | undefined, migrated = true): KubeObject => ({
    metadata: { namespace: 'shop', name, annotations: migrated ? { [MIGRATED]: 'true' } : {} },
    spec: suspend === undefined ? {} : { suspend },
  });

  it.each<[string, 'activate' | 'deactivate', KubeObject, string | null, object | undefined]>([
    [
      'activate scales to the annotation',
      'activate',
      workload('web', 0, '3'),
      'Updated replicas for deployment shop/web to 3',
      { spec: { replicas: 3 } },
    ],
    [
      'activate leaves a scaled object alone',
      'activate',
      workload('web', 3, '3'),
      'Replicas for deployment shop/web already 3',
      undefined,
    ],
    [
      'a missing replicas counts as 1',
      'activate',
      workload('web', undefined, '1'),
      'Replicas for deployment shop/web already 1',
      undefined,
    ],
    [
      'deactivate scales to 0',
      'deactivate',
      workload('web', 3, '3'),
      'Updated replicas for deployment shop/web to 0',
      { spec: { replicas: 0 } },
    ],
    [
      'deactivate leaves 0 alone',
      'deactivate',
      workload('web', 0, '3'),
      'Replicas for deployment shop/web already 0',
      undefined,
    ],
    ['no annotation: not migrated', 'activate', workload('web', 0, undefined), null, undefined],
    [
      'owned objects are their owner’s business',
      'activate',
      workload('web-abc', 0, '3', true),
      null,
      undefined,
    ],
  ])('%s', (_, direction, object, message, patch) => {
    const changes = planWorkloads(direction, 'deployment', [object]);
    if (message === null) expect(changes).toEqual([]);
    else
      expect(changes).toEqual([
        { kind: 'deployment', namespace: 'shop', name: object.metadata!.name, patch, message },
      ]);
  });

  it('warns about an annotation that is not a count, changing nothing', () => {
    const [c] = planWorkloads('activate', 'statefulset', [workload('db', 0, 'three')]);
    expect(c).toMatchObject({ patch: undefined, warning: true });
    expect(c!.message).toBe(
      `Skipped statefulset shop/db: annotation ${REPLICAS} is "three", not a replica count`,
    );
  });

  it.each<[string, 'activate' | 'deactivate', KubeObject, string | null]>([
    [
      'activate resumes',
      'activate',
      cronjob('nightly', true),
      'Updated suspend option for cronjob shop/nightly to false',
    ],
    [
      'activate leaves a running one',
      'activate',
      cronjob('nightly', false),
      'Suspend option for cronjob shop/nightly already false',
    ],
    [
      'a missing suspend is false',
      'activate',
      cronjob('nightly', undefined),
      'Suspend option for cronjob shop/nightly already false',
    ],
    [
      'deactivate suspends',
      'deactivate',
      cronjob('nightly', false),
      'Updated suspend option for cronjob shop/nightly to true',
    ],
    [
      'deactivate leaves a suspended one',
      'deactivate',
      cronjob('nightly', true),
      'Suspend option for cronjob shop/nightly already true',
    ],
    ['not migrated: untouched', 'activate', cronjob('local', true, false), null],
  ])('cronjob: %s', (_, direction, object, message) => {
    const changes = planWorkloads(direction, 'cronjob', [object]);
    expect(changes.map((c) => c.message)).toEqual(message === null ? [] : [message]);
    for (const c of changes) expect(c.patch === undefined).toBe(message!.includes('already'));
  });

  it('orders by namespace and name', () => {
    const o = (ns: string, name: string) => ({
      ...workload(name, 0, '1'),
      metadata: { namespace: ns, name, annotations: { [REPLICAS]: '1' } },
    });
    expect(
      planWorkloads('activate', 'replicaset', [o('b', 'a'), o('a', 'z'), o('a', 'b')]).map(
        (c) => `${c.namespace}/${c.name}`,
      ),
    ).toEqual(['a/b', 'a/z', 'b/a']);
  });
});

describe('planSchedules', () => {
  const schedule = (name: string, namespaces: string[] | undefined, activated?: boolean): KubeObject => ({
    metadata: { namespace: 'admin', name },
    spec: { template: { spec: namespaces ? { namespaces } : { namespaceSelectors: { dr: 'yes' } } } },
    ...(activated === undefined ? {} : { status: { applicationActivated: activated } }),
  });

  it.each<[string, 'activate' | 'deactivate', KubeObject, string[] | undefined, string | null]>([
    [
      'marks a schedule feeding the namespace',
      'activate',
      schedule('s', ['shop', 'db']),
      ['db'],
      'Updated application activated for migrationschedule admin/s to true',
    ],
    [
      'leaves one already marked',
      'activate',
      schedule('s', ['shop'], true),
      ['shop'],
      'Application activated for migrationschedule admin/s already true',
    ],
    [
      'unmarks on deactivate',
      'deactivate',
      schedule('s', ['shop'], true),
      ['shop'],
      'Updated application activated for migrationschedule admin/s to false',
    ],
    [
      'an unset status is false',
      'deactivate',
      schedule('s', ['shop']),
      ['shop'],
      'Application activated for migrationschedule admin/s already false',
    ],
    ['ignores a schedule of other namespaces', 'activate', schedule('s', ['other']), ['shop'], null],
    [
      '-a takes every schedule',
      'activate',
      schedule('s', ['other']),
      undefined,
      'Updated application activated for migrationschedule admin/s to true',
    ],
    ['label-selected namespaces are left out', 'activate', schedule('s', undefined), undefined, null],
  ])('%s', (_, direction, object, namespaces, message) => {
    const changes = planSchedules(direction, [object], namespaces && new Set(namespaces));
    expect(changes.map((c) => c.message)).toEqual(message === null ? [] : [message]);
    for (const c of changes)
      expect(c.patch).toEqual(
        message!.includes('already')
          ? undefined
          : { status: { applicationActivated: direction === 'activate' } },
      );
  });
});
