// `get RESOURCE [NAME...] [-f FILE] [-o json|yaml|name] [-n NAMESPACE | -A]`: objects of one kind
// from manifests (-f) or, without -f, from the cluster of --kubeconfig / $KUBECONFIG, as kubectl
// and storkctl read them. Schedule policies print Stork's columns:
//   NAME  INTERVAL-MINUTES  DAILY  WEEKLY  MONTHLY   (weekly as Thursday@10:13PM, monthly as
//   14@8:05PM, N/A for a type the policy does not set); other kinds their CRD printer columns.
// Migrations and cluster pairs print storkctl's columns (cli/columns.ts); -c/--clusterpair keeps
// the migrations (and migration schedules) of one pair; -A (or -a) adds a leading NAMESPACE.
// -o json|yaml prints the objects with defaults applied: one object alone, several as a List.

import {
  API_GROUP,
  KINDS,
  resourceInfo,
  toYaml,
  type KindInfo,
  type KnownObject,
  type NamespacedSchedulePolicy,
  type SchedulePolicy,
} from '../../../api/index.js';
import { flagValue, formatFlags, parseArgs, UsageError, type FlagSpec } from '../args.js';
import { ClusterError, listObjects } from '../../cluster.js';
import { loadManifests, type Cli } from '../io.js';
import { formatTable } from '../table.js';
import { CLUSTER_PAIR_COLUMNS, clusterPairRow, MIGRATION_COLUMNS, migrationRow } from '../columns.js';
import { FILENAME_FLAG } from './validate.js';

export const OUTPUT_FLAG: FlagSpec = {
  name: 'output',
  short: 'o',
  value: 'FORMAT',
  help: 'Output format: json, yaml or name.',
};
const FLAGS: FlagSpec[] = [
  FILENAME_FLAG,
  OUTPUT_FLAG,
  {
    name: 'namespace',
    short: 'n',
    value: 'NAMESPACE',
    help: 'Only objects of this namespace (namespaced kinds).',
  },
  {
    name: 'all-namespaces',
    short: 'A',
    shortAliases: ['a'],
    help: 'Objects of every namespace (from a cluster; -a as in storkctl).',
  },
  {
    name: 'clusterpair',
    short: 'c',
    value: 'NAME',
    help: 'Only migrations (and migration schedules) of this ClusterPair.',
  },
  {
    name: 'kubeconfig',
    value: 'FILE',
    help: 'Kubeconfig of the cluster to read (default $KUBECONFIG, ~/.kube/config).',
  },
  { name: 'context', value: 'NAME', help: 'Kubeconfig context to use.' },
];
const FORMATS = ['json', 'name', 'yaml'];
/** storkctl's short names that are not the CRDs' own. */
const STORKCTL_ALIASES: Record<string, string> = { cp: 'clusterpair' };

function resourceList(): string {
  return KINDS.map((k) => {
    const short = [
      ...k.shortNames,
      ...Object.keys(STORKCTL_ALIASES).filter((a) => STORKCTL_ALIASES[a] === k.singular),
    ];
    return `  ${k.singular}${short.length ? ` (${short.join(', ')})` : ''}`;
  }).join('\n');
}

export function getHelp(program: string): string {
  return `Display objects of one resource type from manifest files, as storkctl/kubectl print them.

Usage:
  ${program} get RESOURCE [NAME...] [-f FILE] [-o json|yaml|name] [-n NAMESPACE | -A]

Resources (singular, plural or short name):
${resourceList()}

Examples:
  ${program} get schedulepolicy                      # from the cluster of $KUBECONFIG
  ${program} get migrationschedule -n mysql --kubeconfig source.kubeconfig
  ${program} get schedulepolicy -f policy.yaml
  ${program} get schedulepolicy testpolcy -f policy.yaml -o yaml

Flags:
${formatFlags(FLAGS)}
`;
}

function policyRow(p: SchedulePolicy | NamespacedSchedulePolicy): string[] {
  const { interval, daily, weekly, monthly } = p.policy;
  return [
    p.metadata.name,
    interval ? String(interval.intervalMinutes) : 'N/A',
    daily ? daily.time : 'N/A',
    weekly ? `${weekly.day}@${weekly.time}` : 'N/A',
    monthly ? `${monthly.date}@${monthly.time}` : 'N/A',
  ];
}

function jsonPath(object: unknown, path: string): unknown {
  let v: unknown = object;
  for (const key of path.split('.').filter(Boolean)) {
    v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
  }
  return v;
}

/** kubectl's short ages: 45s, 5m, 3h, 12d, 2y. */
export function age(created: unknown, now: number): string {
  const t = typeof created === 'string' ? Date.parse(created) : NaN;
  if (Number.isNaN(t)) return '<unknown>';
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 3 * 3600) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  if (s < 365 * 86400 * 2) return `${Math.floor(s / 86400)}d`;
  return `${Math.floor(s / (365 * 86400))}y`;
}

/** Header and rows of a kind's table: Stork's columns where storkctl has them, else the CRD's. */
function columnsOf(info: KindInfo, objects: KnownObject[], now: number): [string[], string[][]] {
  if (info.kind === 'SchedulePolicy' || info.kind === 'NamespacedSchedulePolicy') {
    const rows = objects.map((o) => policyRow(o as SchedulePolicy));
    return [['NAME', 'INTERVAL-MINUTES', 'DAILY', 'WEEKLY', 'MONTHLY'], rows];
  }
  if (info.kind === 'Migration') return [MIGRATION_COLUMNS, objects.map(migrationRow)];
  if (info.kind === 'ClusterPair') return [CLUSTER_PAIR_COLUMNS, objects.map(clusterPairRow)];
  const columns = info.printerColumns.filter((c) => !c.priority);
  const rows = objects.map((o) => [
    o.metadata.name,
    ...columns.map((c) => {
      const v = jsonPath(o, c.jsonPath);
      if (c.type === 'date') return age(v, now);
      return v === undefined || v === null ? '' : String(v);
    }),
  ]);
  return [['NAME', ...columns.map((c) => c.name.toUpperCase())], rows];
}

/** The table; with `withNamespace` (-A on a namespaced kind) a leading NAMESPACE column. */
function table(info: KindInfo, objects: KnownObject[], now: number, withNamespace = false): string {
  const [header, rows] = columnsOf(info, objects, now);
  if (!withNamespace) return formatTable(header, rows);
  return formatTable(
    ['NAMESPACE', ...header],
    rows.map((r, i) => [objects[i]!.metadata.namespace ?? '', ...r]),
  );
}

export function printObjects(cli: Cli, format: string, objects: readonly object[]): void {
  const doc =
    objects.length === 1
      ? objects[0]
      : { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items: objects };
  cli.out(format === 'json' ? `${JSON.stringify(doc, null, 4)}\n` : toYaml(doc));
}

export function runGet(cli: Cli, argv: string[]): number | Promise<number> {
  const args = parseArgs(argv, FLAGS);
  if (args.help) {
    cli.out(getHelp(cli.program));
    return 0;
  }
  const [resource, ...names] = args.positionals;
  if (resource === undefined) {
    throw new UsageError(
      `you must specify the type of resource to get, e.g. "${cli.program} get schedulepolicy -f FILE"`,
    );
  }
  const info = resourceInfo(STORKCTL_ALIASES[resource] ?? resource);
  if (!info) throw new UsageError(`unknown resource type "${resource}"; one of:\n${resourceList()}`);
  const format = flagValue(args, 'output');
  if (format !== undefined && !FORMATS.includes(format)) {
    throw new UsageError(
      `invalid value "${format}" for -o/--output: allowed formats are ${FORMATS.join(', ')}`,
    );
  }
  const files = args.flags.get('filename') ?? [];
  if (files.length === 0) return getFromCluster(cli, info, names, format, args);
  const loaded = loadManifests(cli, files);
  if (loaded.errors.length > 0) {
    for (const e of loaded.errors) cli.err(`${e}\n`);
    return 1;
  }
  const namespace = flagValue(args, 'namespace');
  let objects = loaded.objects
    .map((v) => v.object)
    .filter((o) => o.kind === info.kind)
    .filter(
      (o) =>
        info.scope === 'Cluster' ||
        namespace === undefined ||
        (o.metadata.namespace ?? namespace) === namespace,
    );
  objects = byClusterPair(objects, info, flagValue(args, 'clusterpair'));
  let code = 0;
  if (names.length > 0) {
    objects = names.flatMap((n) => objects.filter((o) => o.metadata.name === n));
    for (const n of names.filter((n) => !objects.some((o) => o.metadata.name === n))) {
      cli.err(`error: ${info.singular} "${n}" not found in the given files\n`);
      code = 1;
    }
  }
  print(cli, info, format, objects, code === 0 ? `No ${info.plural} found in the given files.` : undefined);
  return code;
}

function print(
  cli: Cli,
  info: KindInfo,
  format: string | undefined,
  objects: KnownObject[],
  noneMessage: string | undefined,
  withNamespace = false,
): void {
  if (format === 'json' || format === 'yaml') printObjects(cli, format, objects);
  else if (format === 'name')
    for (const o of objects) cli.out(`${info.singular}.${API_GROUP}/${o.metadata.name}\n`);
  else if (objects.length === 0) {
    if (noneMessage) cli.err(`${noneMessage}\n`);
  } else cli.out(table(info, objects, cli.now(), withNamespace));
}

/** -c/--clusterpair: a Migration's spec.clusterPair, a MigrationSchedule's template's. */
function byClusterPair(objects: KnownObject[], info: KindInfo, pair: string | undefined): KnownObject[] {
  if (pair === undefined) return objects;
  if (info.kind === 'Migration') return objects.filter((o) => jsonPath(o, 'spec.clusterPair') === pair);
  if (info.kind === 'MigrationSchedule')
    return objects.filter((o) => jsonPath(o, 'spec.template.spec.clusterPair') === pair);
  throw new UsageError(`-c/--clusterpair applies to migrations and migrationschedules, not ${info.plural}`);
}

async function getFromCluster(
  cli: Cli,
  info: KindInfo,
  names: string[],
  format: string | undefined,
  args: ReturnType<typeof parseArgs>,
): Promise<number> {
  const namespace = flagValue(args, 'namespace');
  const allNamespaces = flagValue(args, 'all-namespaces') === 'true';
  try {
    const objects = byClusterPair(
      (await listObjects(
        { kubeconfig: flagValue(args, 'kubeconfig'), context: flagValue(args, 'context') },
        info,
        { namespace, allNamespaces, names },
      )) as KnownObject[],
      info,
      flagValue(args, 'clusterpair'),
    );
    const where =
      info.scope === 'Cluster' || allNamespaces ? '' : ` in ${namespace ?? 'the current'} namespace`;
    print(
      cli,
      info,
      format,
      objects,
      `No resources found${where}.`,
      allNamespaces && info.scope === 'Namespaced',
    );
    return 0;
  } catch (err) {
    if (!(err instanceof ClusterError)) throw err;
    cli.err(`${err.message}\n`);
    return 1;
  }
}
