// The seed's three documents (test/fixtures/seed, copied verbatim) validate as written.
import { readFileSync } from 'node:fs';
import { parseKind } from '../../../api/index.js';
import { parse } from 'yaml';
import { check } from './helpers.js';

const seed = (name: string) => readFileSync(new URL(`../../fixtures/seed/${name}`, import.meta.url), 'utf8');

describe('the seed', () => {
  it('validates all three documents together, with warnings only', () => {
    const text = ['clusterpair.yaml', 'schedulepolicy.yaml', 'migrationschedule.yaml']
      .map(seed)
      .join('---\n');
    const { errors, warnings, objects } = check(text);
    expect(errors).toEqual([]);
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'ClusterPair/remotecluster',
      'SchedulePolicy/testpolcy',
      'MigrationSchedule/mysqlmigrationschedule',
    ]);
    expect(warnings).toEqual([
      'ClusterPair/remotecluster: spec.options.ip: "<ip_of_remote_px_node>" looks like a placeholder; replace it before applying',
      'ClusterPair/remotecluster: spec.options.port: "<port_of_remote_px_node_default_9001>" looks like a placeholder; replace it before applying',
      'ClusterPair/remotecluster: spec.options.token: "<token_from_step_3>" looks like a placeholder; replace it before applying',
      'SchedulePolicy/testpolcy: metadata.namespace: "mysql" is ignored: SchedulePolicy is cluster-scoped',
      'MigrationSchedule/mysqlmigrationschedule: spec.schedulePolicyName: no SchedulePolicy "testpolicy" in the given files (did you mean "testpolcy"?); it must exist in the cluster',
    ]);
  });

  it('keeps creationTimestamp: null and the status of the ClusterPair', () => {
    const pair = parseKind('ClusterPair', parse(seed('clusterpair.yaml')));
    expect(pair.metadata.creationTimestamp).toBeNull();
    expect(pair.status).toEqual({ remoteStorageId: '', schedulerStatus: '', storageStatus: '' });
    expect(pair.spec.options?.['mode']).toBe('DisasterRecovery');
    expect(pair.spec.config['current-context']).toBe('kubernetes-admin@kubernetes');
  });

  it("applies Stork's defaults to the SchedulePolicy (retain 10/30/7/12)", () => {
    const p = parseKind('SchedulePolicy', parse(seed('schedulepolicy.yaml')));
    expect(p.policy).toEqual({
      interval: { intervalMinutes: 1, retain: 10 },
      daily: { time: '10:14PM', retain: 30 },
      weekly: { day: 'Thursday', time: '10:13PM', retain: 7 },
      monthly: { date: 14, time: '8:05PM', retain: 12 },
    });
  });

  it("applies Stork's migration defaults to the MigrationSchedule template", () => {
    const s = parseKind('MigrationSchedule', parse(seed('migrationschedule.yaml')));
    expect(s.spec.suspend).toBe(false);
    expect(s.spec.template.spec).toEqual({
      clusterPair: 'remotecluster',
      namespaces: ['mysql'],
      includeResources: true,
      includeVolumes: true,
      startApplications: false,
      purgeDeletedResources: false,
      skipServiceUpdate: false,
      skipDeletedNamespaces: true,
      ignoreOwnerReferencesCheck: false,
      includeNetworkPolicyWithCIDR: false,
    });
    expect(s.spec.autoSuspend).toBe(false);
  });
});
