import fc from 'fast-check';
import { runningMigratedWorkloads } from '../../../resources/activated.js';
import { toStandby } from '../../../resources/standby.js';
import type { KubeObject } from '../../../resources/objects.js';

const REPLICAS = 'stork.libopenstorage.org/migrationReplicas';

const workload = (
  name: string,
  replicas: number | undefined,
  annotations: Record<string, string> = {},
  owned = false,
): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name,
    namespace: 'shop',
    annotations,
    ...(owned ? { ownerReferences: [{ kind: 'Deployment', name: 'x' }] } : {}),
  },
  spec: replicas === undefined ? {} : { replicas },
});

describe('runningMigratedWorkloads', () => {
  it.each([
    [
      'migrated, scaled up by activate',
      workload('web', 2, { [REPLICAS]: '2' }),
      ['deployment shop/web runs 2 replicas'],
    ],
    [
      'migrated, one replica',
      workload('web', 1, { [REPLICAS]: '3' }),
      ['deployment shop/web runs 1 replica'],
    ],
    ['migrated, still at 0', workload('web', 0, { [REPLICAS]: '2' }), []],
    [
      'migrated, replicas unset (the API default is 1)',
      workload('web', undefined, { [REPLICAS]: '2' }),
      ['deployment shop/web runs 1 replica'],
    ],
    ['not migrated (no annotation), running', workload('web', 3), []],
    ['owned by another object', workload('web', 2, { [REPLICAS]: '2' }, true), []],
  ])('%s', (_, o, expected) => {
    expect(runningMigratedWorkloads('deployment', [o])).toEqual(expected);
  });

  it('lists every running one, sorted', () => {
    const objects = [
      workload('b', 1, { [REPLICAS]: '1' }),
      workload('a', 4, { [REPLICAS]: '4' }),
      workload('c', 0, { [REPLICAS]: '1' }),
    ];
    expect(runningMigratedWorkloads('statefulset', objects)).toEqual([
      'statefulset shop/a runs 4 replicas',
      'statefulset shop/b runs 1 replica',
    ]);
  });

  it('what a migration writes to the standby never counts as activated, whatever the source runs', () => {
    fc.assert(
      fc.property(fc.nat(20), fc.boolean(), (replicas, startApplications) => {
        const standby = toStandby({ group: 'apps', kind: 'Deployment' }, workload('web', replicas), {
          startApplications,
          migrationName: 'm1',
          migrationNamespace: 'shop',
          migrationTime: '2026-01-01-000000',
        });
        expect(runningMigratedWorkloads('deployment', [standby])).toEqual([]);
      }),
    );
  });
});
