// The CRDs: generated from the schemas, committed in deploy/crds/ (never drifting), structural.
import { readdirSync, readFileSync } from 'node:fs';
import { crdManifests, renderCrdFiles, KINDS } from '../../../api/index.js';

const dir = new URL('../../../deploy/crds/', import.meta.url);

type Node = Record<string, unknown>;

/** Paths of schema nodes that break the apiserver's structural-schema rules. */
function structuralProblems(node: Node, path: string, out: string[] = []): string[] {
  if (typeof node['type'] !== 'string') out.push(`${path}: no type`);
  if (node['properties'] && node['additionalProperties'])
    out.push(`${path}: properties and additionalProperties`);
  if (node['x-kubernetes-preserve-unknown-fields'] && node['properties'])
    out.push(`${path}: preserve-unknown with properties`);
  for (const [k, child] of Object.entries((node['properties'] as Record<string, Node>) ?? {})) {
    structuralProblems(child, `${path}.${k}`, out);
  }
  if (node['items']) structuralProblems(node['items'] as Node, `${path}[]`, out);
  if (typeof node['additionalProperties'] === 'object')
    structuralProblems(node['additionalProperties'] as Node, `${path}{}`, out);
  if (typeof node['pattern'] === 'string') new RegExp(node['pattern']); // compiles
  return out;
}

function schemaOf(crd: Node): Node {
  const spec = crd['spec'] as { versions: Array<{ schema: { openAPIV3Schema: Node } }> };
  return spec.versions[0]!.schema.openAPIV3Schema;
}

describe('CRD manifests', () => {
  it('deploy/crds/ holds exactly the generated files (run `npm run gen:crds` after changing a schema)', () => {
    const committed = readdirSync(dir)
      .filter((f) => f.endsWith('.yaml'))
      .sort();
    const generated = renderCrdFiles();
    expect(committed).toEqual(generated.map((g) => g.file).sort());
    for (const { file, text } of generated) expect(readFileSync(new URL(file, dir), 'utf8')).toBe(text);
  });

  it('are structural: every node typed, free-form content only where marked', () => {
    for (const crd of crdManifests()) expect(structuralProblems(schemaOf(crd), 'root')).toEqual([]);
  });

  it('leave metadata to the apiserver and free-form only the kubeconfig', () => {
    const pair = crdManifests().find(
      (c) => (c['metadata'] as Node)['name'] === 'clusterpairs.stork.libopenstorage.org',
    )!;
    const root = schemaOf(pair);
    const props = root['properties'] as Record<string, Node>;
    expect(props['metadata']).toEqual({ type: 'object' });
    const spec = props['spec']!['properties'] as Record<string, Node>;
    expect(spec['config']).toMatchObject({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
    expect(spec['options']).toMatchObject({ type: 'object', additionalProperties: { type: 'string' } });
    expect(JSON.stringify(crdManifests()).match(/x-kubernetes-preserve-unknown-fields/g)).toHaveLength(1);
  });

  it.each([
    ['ClusterPair', 'Namespaced', true, ['Mode', 'Storage-Status', 'Scheduler-Status', 'Age']],
    [
      'SchedulePolicy',
      'Cluster',
      false,
      ['Interval-Minutes', 'Daily', 'Weekly', 'Weekly-Time', 'Monthly', 'Monthly-Time', 'Timezone', 'Age'],
    ],
    [
      'NamespacedSchedulePolicy',
      'Namespaced',
      false,
      ['Interval-Minutes', 'Daily', 'Weekly', 'Weekly-Time', 'Monthly', 'Monthly-Time', 'Timezone', 'Age'],
    ],
    ['MigrationSchedule', 'Namespaced', true, ['Policy', 'Suspend', 'Age']],
    ['Migration', 'Namespaced', true, ['ClusterPair', 'Stage', 'Status', 'Age']],
    ['Rule', 'Namespaced', false, ['Age']],
    ['ResourceTransformation', 'Namespaced', true, ['Status', 'Age']],
  ])('%s: scope %s, status subresource %s, printer columns', (kind, scope, status, columns) => {
    const crd = crdManifests().find((c) => ((c['spec'] as Node)['names'] as Node)['kind'] === kind)!;
    const spec = crd['spec'] as { scope: string; group: string; versions: Array<Node> };
    expect(spec.scope).toBe(scope);
    expect(spec.group).toBe('stork.libopenstorage.org');
    expect(spec.versions[0]!['subresources'] !== undefined).toBe(status);
    expect(
      (spec.versions[0]!['additionalPrinterColumns'] as Array<{ name: string }>).map((c) => c.name),
    ).toEqual(columns);
  });

  it('carry the schema defaults (retain 10/30/7/12, migration booleans)', () => {
    const text = JSON.stringify(crdManifests());
    for (const n of [10, 30, 7, 12]) expect(text).toContain(`"default":${n}`);
    expect(KINDS.map((k) => k.plural)).toEqual([
      'clusterpairs',
      'schedulepolicies',
      'namespacedschedulepolicies',
      'migrationschedules',
      'migrations',
      'rules',
      'resourcetransformations',
    ]);
  });
});
