// Table tests for ClusterPair, Migration, MigrationSchedule, Rule, metadata and documents.
import {
  ADMIN_CLUSTER_PAIR_IGNORED,
  NAMESPACES_MISSING,
  parseKind,
  parseObject,
  ValidationError,
  parseYamlDocuments,
} from '../../../api/index.js';
import { check } from './helpers.js';

const HEAD = (kind: string, name = 'x', ns = 'mysql') =>
  `apiVersion: stork.libopenstorage.org/v1alpha1\nkind: ${kind}\nmetadata:\n  name: ${name}\n  namespace: ${ns}\n`;

const pair = (options: string) =>
  `${HEAD('ClusterPair', 'remote')}spec:\n  config:\n    clusters: {}\n  options:\n${options}`;

describe('ClusterPair', () => {
  it.each(['"9001"', '"1"', '"65535"', '<port_of_remote_px_node_default_9001>'])(
    'accepts port %s',
    (port) => {
      expect(check(pair(`    port: ${port}\n`)).errors).toEqual([]);
    },
  );
  it.each([
    ['"99999"', '"99999" is not a valid port: must be between 1 and 65535'],
    ['"-1"', '"-1" is not a valid port: must be between 1 and 65535'],
    ['"0"', '"0" is not a valid port: must be between 1 and 65535'],
    ['"http"', '"http" is not a valid port: must be a number between 1 and 65535'],
    ['9001', '9001 is not a string (got an integer); quote it: "9001"'],
  ])('rejects port %s', (port, message) => {
    expect(check(pair(`    port: ${port}\n`)).errors).toEqual([
      `ClusterPair/remote: spec.options.port: ${message}`,
    ]);
  });
  it.each(['DisasterRecovery', '""'])('accepts mode %s', (mode) => {
    expect(check(pair(`    mode: ${mode}\n`)).errors).toEqual([]);
  });
  it.each(['disasterrecovery', 'Async'])('rejects mode %s', (mode) => {
    expect(check(pair(`    mode: ${mode}\n`)).errors).toEqual([
      `ClusterPair/remote: spec.options.mode: "${mode}" is not a valid mode: must be DisasterRecovery or empty`,
    ]);
  });
  it('defaults the port to 9001 and keeps other options as strings', () => {
    const [p] = check(pair('    ip: 10.1.2.3\n    token: abc\n    backuplocation: s3\n')).objects;
    expect(p?.kind === 'ClusterPair' && p.spec.options).toEqual({
      ip: '10.1.2.3',
      token: 'abc',
      backuplocation: 's3',
      port: '9001',
    });
  });
  it('keeps the kubeconfig free-form and requires it', () => {
    expect(check(`${HEAD('ClusterPair', 'remote')}spec:\n  options: {}\n`).errors).toEqual([
      'ClusterPair/remote: spec.config: required field is missing',
    ]);
    expect(check(`${HEAD('ClusterPair', 'remote')}spec:\n  config: admin.conf\n`).errors).toEqual([
      'ClusterPair/remote: spec.config: "admin.conf" is not an object (got a string)',
    ]);
  });
  it('validates status values', () => {
    expect(
      check(`${pair('    ip: a\n')}status:\n  storageStatus: Ready\n  schedulerStatus: Sad\n`).errors,
    ).toEqual([
      'ClusterPair/remote: status.schedulerStatus: "Sad" is not one of "", "Initial", "Pending", "Ready", "NotProvided", "Error", "Degraded", "Deleting"',
    ]);
  });
});

const migration = (spec: string) => `${HEAD('Migration', 'm')}spec:\n${spec}`;

describe('Migration', () => {
  it('accepts every Stork field listed in the issue', () => {
    const spec = `  clusterPair: remotecluster
  namespaces: [mysql, web]
  selectors: {app: mysql}
  excludeSelectors: {"app.kubernetes.io/part-of": debug}
  includeResources: true
  includeVolumes: false
  startApplications: false
  purgeDeletedResources: true
  skipServiceUpdate: true
  preExecRule: flush
  postExecRule:
  includeOptionalResourceTypes: [Job]
  excludeResourceTypes: [Secret]
`;
    const { errors, objects } = check(migration(spec));
    expect(errors).toEqual([]);
    const m = objects[0];
    expect(m?.kind === 'Migration' && m.spec).toMatchObject({
      includeVolumes: false,
      purgeDeletedResources: true,
    });
    expect(m?.kind === 'Migration' && 'postExecRule' in m.spec).toBe(false); // null = unset, pruned
  });
  it.each([
    ['  namespaces: [mysql]\n', 'spec.clusterPair: required field is missing'],
    ['  clusterPair: remotecluster\n', `spec: ${NAMESPACES_MISSING}`],
    ['  clusterPair: r\n  namespaces: []\n', `spec: ${NAMESPACES_MISSING}`],
    ['  clusterPair: r\n  namespaces: []\n  namespaceSelectors: {}\n', `spec: ${NAMESPACES_MISSING}`],
    [
      '  clusterPair: r\n  namespaces: [My_NS]\n',
      `spec.namespaces[0]: "My_NS" is not a valid namespace name: lower-case letters, digits and '-', starting and ending with a letter or digit`,
    ],
    [
      '  clusterPair: r\n  namespaces: [a]\n  selectors: {app: 3}\n',
      'spec.selectors.app: 3 is not a string (got an integer); quote it: "3"',
    ],
    [
      '  clusterPair: r\n  namespaces: [a]\n  startApplications: "no"\n',
      'spec.startApplications: "no" is not a boolean (got a string); write true or false without quotes',
    ],
    ['  clusterPair: r\n  namespaces: a\n', 'spec.namespaces: "a" is not a list (got a string)'],
    [
      '  clusterPair: r\n  namespaces: [a]\n  namespaceSelector: {}\n',
      'spec.namespaceSelector: unknown field (did you mean "namespaceSelectors"?)',
    ],
  ])('rejects %j', (spec, message) => {
    expect(check(migration(spec)).errors).toEqual([`Migration/m: ${message}`]);
  });
  it('validates the status shape', () => {
    const yaml = `${migration('  clusterPair: r\n  namespaces: [a]\n')}status:
  stage: Final
  status: Successful
  finishTimestamp: null
  volumes:
  - persistentVolumeClaim: data
    namespace: a
    volume: pvc-1
    status: Successful
    bytesTotal: 1024
  resources:
  - {name: web, namespace: a, group: apps, version: v1, kind: Deployment, status: Successful}
  summary: {totalNumberOfVolumes: 1, numOfMigratedVolumes: 1}
`;
    expect(check(yaml).errors).toEqual([]);
    expect(check(yaml.replace('stage: Final', 'stage: Done')).errors).toEqual([
      'Migration/m: status.stage: "Done" is not one of "", "Initial", "PreExecRule", "PostExecRule", "Volumes", "Applications", "Final"',
    ]);
  });
});

describe("Migration: Stork's newer fields", () => {
  it('takes namespaceSelectors instead of namespaces, and defaults the new booleans as Stork', () => {
    const { errors, warnings, objects } = check(
      migration('  clusterPair: r\n  namespaceSelectors: {team: payments}\n  namespaces: null\n'),
    );
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect(objects[0]?.kind === 'Migration' && objects[0].spec).toEqual({
      clusterPair: 'r',
      namespaceSelectors: { team: 'payments' },
      includeResources: true,
      includeVolumes: true,
      startApplications: false,
      purgeDeletedResources: false,
      skipServiceUpdate: false,
      skipDeletedNamespaces: true,
      ignoreOwnerReferencesCheck: false,
      includeNetworkPolicyWithCIDR: false,
    });
  });
  it('warns once about a set adminClusterPair, not about an empty one', () => {
    expect(
      check(migration('  clusterPair: r\n  namespaces: [a]\n  adminClusterPair: ""\n')).warnings,
    ).toEqual([]);
    expect(
      check(migration('  clusterPair: r\n  namespaces: [a]\n  adminClusterPair: admin\n')).warnings,
    ).toEqual([`Migration/m: spec.adminClusterPair: ${ADMIN_CLUSTER_PAIR_IGNORED}`]);
  });
  it('reports a missing namespace together with the other errors', () => {
    expect(check(migration('  clusterPair: r\n  transformSpecs: [Bad_Name]\n')).errors).toEqual([
      `Migration/m: spec.transformSpecs[0]: "Bad_Name" is not a valid name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit`,
      `Migration/m: spec: ${NAMESPACES_MISSING}`,
    ]);
  });
});

describe('MigrationSchedule', () => {
  const schedule = (spec: string) => `${HEAD('MigrationSchedule', 's')}spec:\n${spec}`;
  it.each([
    ['  schedulePolicyName: p\n', 'spec.template: required field is missing'],
    [
      '  template:\n    spec:\n      clusterPair: r\n      namespaces: [a]\n',
      'spec.schedulePolicyName: required field is missing',
    ],
    ['  template: {}\n  schedulePolicyName: p\n', 'spec.template.spec: required field is missing'],
    [
      '  template:\n    spec:\n      clusterPair: r\n      namespaces: [a]\n  schedulePolicyName: p\n  suspend: "yes"\n',
      'spec.suspend: "yes" is not a boolean (got a string); write true or false without quotes',
    ],
    [
      '  template:\n    spec:\n      clusterPair: r\n      namespaces: [a]\n      includeResource: true\n  schedulePolicyName: p\n',
      'spec.template.spec.includeResource: unknown field (did you mean "includeResources"?)',
    ],
  ])('rejects %j', (spec, message) => {
    expect(check(schedule(spec)).errors).toEqual([`MigrationSchedule/s: ${message}`]);
  });
  it("accepts Stork's status items per policy type", () => {
    const yaml = `${schedule('  template:\n    spec:\n      clusterPair: r\n      namespaces: [a]\n  schedulePolicyName: p\n')}status:
  items:
    Interval:
    - name: s-interval-2019-02-16-004052
      creationTimestamp: "2019-02-16T00:40:52Z"
      finishTimestamp: null
      status: InProgress
`;
    expect(check(yaml).errors).toEqual([]);
  });
  it('warns (does not fail) when the policy is not in the files, and not when it is', () => {
    const s = schedule(
      '  template:\n    spec:\n      clusterPair: r\n      namespaces: [a]\n  schedulePolicyName: nightly\n',
    );
    expect(check(s).warnings).toEqual([
      'MigrationSchedule/s: spec.schedulePolicyName: no SchedulePolicy "nightly" in the given files; it must exist in the cluster',
    ]);
    const nsPolicy = `${HEAD('NamespacedSchedulePolicy', 'nightly')}policy:\n  daily:\n    time: "1:00AM"\n`;
    expect(check(`${s}---\n${nsPolicy}`).warnings).toEqual([]);
  });
});

describe('Rule', () => {
  const rule = (rules: string) => `${HEAD('Rule', 'flush')}rules:\n${rules}`;
  it('accepts a Stork rule and defaults background/runInSinglePod', () => {
    const { errors, objects } = check(
      rule(
        '- podSelector: {app: mysql}\n  actions:\n  - type: command\n    value: mysql -e "flush tables"\n',
      ),
    );
    expect(errors).toEqual([]);
    expect(objects[0]?.kind === 'Rule' && objects[0].rules[0]?.actions[0]).toEqual({
      type: 'command',
      value: 'mysql -e "flush tables"',
      background: false,
      runInSinglePod: false,
    });
  });
  it.each([
    [
      '- podSelector: {app: a}\n  actions:\n  - type: script\n    value: x\n',
      'rules[0].actions[0].type: "script" is not one of "command"',
    ],
    ['- podSelector: {app: a}\n  actions: []\n', 'rules[0].actions: must not be empty'],
    ['  []\n', 'rules: must not be empty'],
  ])('rejects %j', (rules, message) => {
    expect(check(rule(rules)).errors).toEqual([`Rule/flush: ${message}`]);
  });
});

describe('metadata', () => {
  const meta = (m: string) =>
    `apiVersion: stork.libopenstorage.org/v1alpha1\nkind: Rule\nmetadata:\n${m}rules:\n- podSelector: {a: b}\n  actions: [{type: command, value: x}]\n`;
  it('accepts what kubectl prints', () => {
    const m = `  name: r\n  namespace: a\n  creationTimestamp: "2019-02-14T04:53:58Z"\n  generation: 1\n  resourceVersion: "30206628"\n  selfLink: /apis/x\n  uid: 8a245c1d-3014-11e9-8d3e-0214683e8447\n  labels: {a: b}\n  annotations: {"kubectl.kubernetes.io/last-applied-configuration": "{}"}\n  finalizers: [ferry]\n`;
    expect(check(meta(m)).errors).toEqual([]);
  });
  it.each([
    ['  namespace: a\n', 'Rule/(document 1): metadata.name: required field is missing'],
    [
      '  name: My_Rule\n',
      `Rule/My_Rule: metadata.name: "My_Rule" is not a valid name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit`,
    ],
    ['  name: r\n  nme: x\n', 'Rule/r: metadata.nme: unknown field (did you mean "name"?)'],
    [
      '  name: r\n  creationTimestamp: yesterday\n',
      'Rule/r: metadata.creationTimestamp: "yesterday" is not an RFC 3339 time (e.g. 2019-02-14T04:53:58Z)',
    ],
    [
      '  name: r\n  labels: {"app": 1}\n',
      'Rule/r: metadata.labels.app: 1 is not a string (got an integer); quote it: "1"',
    ],
  ])('rejects %j', (m, message) => {
    expect(check(meta(m)).errors).toEqual([message]);
  });
});

describe('documents', () => {
  it.each([
    ['kind: Rule\nmetadata: {name: a}\n', 'Rule/a: apiVersion: required field is missing'],
    [
      'apiVersion: stork.libopenstorage.org/v1alpha1\nmetadata: {name: a}\n',
      'document 1: kind: required field is missing',
    ],
    [
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\n',
      'Deployment/a: kind: "Deployment" is not a kind of stork.libopenstorage.org/v1alpha1 (one of ClusterPair, SchedulePolicy, NamespacedSchedulePolicy, MigrationSchedule, Migration, Rule, ResourceTransformation)',
    ],
    ['- a\n- b\n', 'document 1: a manifest must be an object, got ["a","b"]'],
  ])('rejects %j', (yaml, message) => {
    expect(check(yaml).errors).toContain(message);
  });

  it('reports every error of every document at once', () => {
    const bad = (name: string) =>
      `apiVersion: stork.libopenstorage.org/v1alpha1\nkind: SchedulePolicy\nmetadata:\n  name: ${name}\npolicy:\n  daily: {time: "0:00AM", retain: 0}\n`;
    expect(check(`${bad('a')}---\n${bad('b')}`).errors).toEqual([
      `SchedulePolicy/a: policy.daily.time: "0:00AM" is not a time in Go's time.Kitchen form (e.g. 1:02PM or 1:02pm)`,
      'SchedulePolicy/a: policy.daily.retain: 0 is not a valid retain count: must be at least 1',
      `SchedulePolicy/b: policy.daily.time: "0:00AM" is not a time in Go's time.Kitchen form (e.g. 1:02PM or 1:02pm)`,
      'SchedulePolicy/b: policy.daily.retain: 0 is not a valid retain count: must be at least 1',
    ]);
  });

  it('expands a kind: List', () => {
    const list = `apiVersion: v1\nkind: List\nitems:\n- apiVersion: stork.libopenstorage.org/v1alpha1\n  kind: SchedulePolicy\n  metadata: {name: a}\n  policy: {daily: {time: "1:00AM"}}\n`;
    expect(check(list).objects.map((o) => o.metadata.name)).toEqual(['a']);
  });

  it('reports YAML syntax errors with document number and line, and skips empty documents', () => {
    const { documents, problems } = parseYamlDocuments(
      '---\n# nothing\n---\na: 1\n---\nb: 1\nb: 2\n',
      'f.yaml',
    );
    expect(documents.map((d) => d.value)).toEqual([{ a: 1 }]);
    expect(problems).toEqual([{ source: 'f.yaml', index: 3, line: 7, message: 'Map keys must be unique' }]);
  });

  it('parseObject/parseKind throw a ValidationError carrying every issue', () => {
    expect(() =>
      parseObject({ apiVersion: 'stork.libopenstorage.org/v1alpha1', kind: 'Rule', metadata: { name: 'r' } }),
    ).toThrow(ValidationError);
    const policy = {
      apiVersion: 'stork.libopenstorage.org/v1alpha1',
      kind: 'SchedulePolicy',
      metadata: { name: 'p' },
      policy: { daily: { time: '1:00AM' } },
    };
    expect(() => parseKind('Rule', policy)).toThrow('SchedulePolicy/p: kind: expected Rule');
    expect(parseKind('SchedulePolicy', policy).policy.daily?.retain).toBe(30);
  });
});
