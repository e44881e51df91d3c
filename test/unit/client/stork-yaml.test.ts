// Stork users' YAML, as storkctl writes it and as Stork's tests and docs shape it, through
// `ferry validate`: every Stork field accepted, the Portworx-only ones with one warning each, and
// invalid values refused with the field named.
import { FIXTURES, lines, run } from './run.js';

const STORK = `${FIXTURES}stork`;
const INVALID = `${FIXTURES}stork-invalid`;

describe("ferry validate: Stork's v1alpha1 YAML", () => {
  it('accepts every fixture, warning once per ignored field', async () => {
    const r = await run(['validate', '-f', STORK]);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([
      'ClusterPair/drsite: valid',
      'Migration/shop-once: valid',
      'Migration/shop-everything: valid',
      'MigrationSchedule/teamsync: valid',
      'NamespacedSchedulePolicy/gold-hours: valid',
      'MigrationSchedule/appsync: valid',
      'SchedulePolicy/appsync: valid',
      'ResourceTransformation/lb-services: valid',
      'ResourceTransformation/port-shift: valid',
      'SchedulePolicy/full-week: valid',
      'SchedulePolicy/as-stork-prints-it: valid',
    ]);
    expect(lines(r.stderr)).toEqual([
      'Warning: ClusterPair/drsite: spec.options.ip: "<ip_of_remote_px_node>" looks like a placeholder; replace it before applying',
      'Warning: ClusterPair/drsite: spec.options.port: "<port_of_remote_px_node_default_9001>" looks like a placeholder; replace it before applying',
      'Warning: ClusterPair/drsite: spec.options.token: "<token_generated_from_destination_cluster>" looks like a placeholder; replace it before applying',
      'Warning: ClusterPair/drsite: spec.platformOptions.rancher.projectMappings: accepted but ignored by Ferry: Stork moves migrated namespaces between Rancher projects; Ferry keeps namespace labels and annotations as they are and knows no Rancher projects',
      "Warning: MigrationSchedule/teamsync: spec.template.spec.adminClusterPair: accepted but ignored by Ferry: Stork's admin ClusterPair (in Stork's admin namespace) carries the cluster-scoped resources of migrations in other namespaces; Ferry migrates with the ClusterPair named by clusterPair only",
      "Warning: SchedulePolicy/full-week: policy.interval.options: accepted but ignored by Ferry: Stork hands these options to its storage driver (Portworx) with each object the policy triggers; Ferry's storage agent takes no per-policy options",
      'Warning: SchedulePolicy/full-week: policy.daily.forceFullSnapshotDay: accepted but ignored by Ferry: Portworx takes a full instead of an incremental snapshot on that day; Ferry sends only the chunks the standby lacks, every time',
    ]);
  });

  it("fills in Stork's defaults and keeps what it ignores", async () => {
    const r = await run(['get', 'migration', 'shop-once', '-f', `${STORK}/migration.yaml`, '-o', 'json']);
    expect(JSON.parse(r.stdout).spec).toEqual({
      clusterPair: 'drsite',
      namespaces: ['shop'],
      includeResources: true,
      includeVolumes: true,
      startApplications: true,
      purgeDeletedResources: false,
      skipServiceUpdate: false,
      skipDeletedNamespaces: true,
      ignoreOwnerReferencesCheck: false,
      includeNetworkPolicyWithCIDR: false,
    });
    const s = await run(['get', 'migrationschedule', 'teamsync', '-f', STORK, '-o', 'json']);
    const spec = JSON.parse(s.stdout).spec;
    expect(spec.autoSuspend).toBe(true);
    expect(spec.template.spec).toMatchObject({
      adminClusterPair: 'admin-drsite',
      namespaceSelectors: { tier: 'gold', team: 'payments' },
      skipDeletedNamespaces: false,
    });
    expect('namespaces' in spec.template.spec).toBe(false); // null = unset
    const p = await run(['get', 'sp', 'full-week', '-f', `${STORK}/schedulepolicy.yaml`, '-o', 'json']);
    expect(JSON.parse(p.stdout).policy.daily).toEqual({
      time: '10:14PM',
      retain: 14,
      forceFullSnapshotDay: 'Sunday',
    });
  });

  it.each([
    [
      'migration-no-namespaces.yaml',
      [
        'Migration/nothing: spec: must list namespaces or set namespaceSelectors: neither names a namespace to migrate (e.g. namespaces: [mysql])',
      ],
    ],
    [
      'schedule-fields.yaml',
      [
        'MigrationSchedule/typo-values: spec.template.spec.skipDeletedNamespaces: "no" is not a boolean (got a string); write true or false without quotes',
        'MigrationSchedule/typo-values: spec.template.spec.transformSpecs: "lb-services" is not a list (got a string)',
        'MigrationSchedule/typo-values: spec.autoSuspend: "true" is not a boolean (got a string); write true or false without quotes',
        'SchedulePolicy/bad-day: policy.daily.options.retries: 3 is not a string (got an integer); quote it: "3"',
        'SchedulePolicy/bad-day: policy.daily.forceFullSnapshotDay: "Someday" is not a day of the week (e.g. Sunday or Sun, in any case)',
      ],
    ],
    [
      'transformation-jsonpatch.yaml',
      [
        'ResourceTransformation/patchy: specs.transformSpecs[0].paths[0].operation: "jsonpatch" is not supported (Stork refuses JSON patches too): use add, modify or delete',
      ],
    ],
    [
      'transformation-type.yaml',
      [
        'ResourceTransformation/wrong-type: specs.transformSpecs[0].paths[0].type: "keyPairValue" is not one of "bool", "int", "string", "slice", "keypair"',
      ],
    ],
    [
      'transformation-value.yaml',
      [
        'ResourceTransformation/bad-values: specs.transformSpecs[0].resource: "v1/Service" is not a resource of the form group/version/kind (e.g. /v1/Service, apps/v1/Deployment)',
        'ResourceTransformation/bad-values: specs.transformSpecs[0].paths[0].value: "thirty" is not an int: type int wants a whole number (e.g. 30080)',
        'ResourceTransformation/bad-values: specs.transformSpecs[0].paths[1].path: "spec.ports[0]" ends with a list index: a whole list element cannot be transformed, only a field of it (e.g. spec.ports[0].name)',
      ],
    ],
  ])('refuses %s (exit 1), naming each field', async (file, errors) => {
    const r = await run(['validate', '-f', `${INVALID}/${file}`]);
    expect(r.code).toBe(1);
    expect(lines(r.stderr).filter((l) => !l.startsWith('Warning: '))).toEqual(errors);
  });
});
