// `get RESOURCE [NAME...] [-f FILE] [-o json|yaml|name] [-n NAMESPACE | -A]`: objects of one kind
// from manifests (-f) or, without -f, from the cluster of --kubeconfig / $KUBECONFIG, as kubectl
// and storkctl read them. Schedule policies print Stork's columns:
//   NAME  INTERVAL-MINUTES  DAILY  WEEKLY  MONTHLY   (weekly as Thursday@10:13PM, monthly as
//   14@8:05PM, N/A for a type the policy does not set); other kinds their CRD printer columns.
// Migrations and cluster pairs print storkctl's columns (cli/columns.ts); -c/--clusterpair keeps
// the migrations (and migration schedules) of one pair; -A (or -a) adds a leading NAMESPACE.
// -o json|yaml prints the objects with defaults applied: one object alone, several as a List.
// Migration schedules print storkctl's columns too; -o wide adds RPO and, from the schedule
// workflow's status query (Temporal flags as `ferry worker`'s), NEXT-TRIGGER. -w/--watch prints
// the table, then a row per change (added, modified, deleted) until interrupted, as kubectl does.

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
import { flagValue, formatFlags, UsageError, type FlagSpec, type ParsedArgs } from '../args.js';
import { ClusterError, listObjectsAt, watchObjects } from '../../cluster.js';
import { loadManifests, type Cli } from '../io.js';
import { columnWidths, formatRow, formatTable } from '../table.js';
import {
  age,
  CLUSTER_PAIR_COLUMNS,
  clusterPairRow,
  MIGRATION_COLUMNS,
  migrationRow,
  SCHEDULE_COLUMNS,
  SCHEDULE_WIDE_COLUMNS,
  scheduleRow,
  scheduleWideRow,
} from '../columns.js';
import type { CommandDef } from '../program.js';
import { CLI_TEMPORAL_FLAGS, connectFromFlags } from '../temporal-flags.js';
import { FILENAME_FLAG } from './validate.js';

export const OUTPUT_FLAG: FlagSpec = {
  name: 'output',
  short: 'o',
  value: 'FORMAT',
  help: 'Output format: json, yaml, name or wide (migration schedules: RPO, next trigger).',
};
export const KUBECONFIG_FLAGS: FlagSpec[] = [
  {
    name: 'kubeconfig',
    value: 'FILE',
    help: 'Kubeconfig of the cluster to read (default $KUBECONFIG, ~/.kube/config).',
  },
  { name: 'context', value: 'NAME', help: 'Kubeconfig context to use.' },
];
export const NAMESPACE_FLAG: FlagSpec = {
  name: 'namespace',
  short: 'n',
  value: 'NAMESPACE',
  help: 'Only objects of this namespace (namespaced kinds).',
};
const FLAGS: FlagSpec[] = [
  FILENAME_FLAG,
  OUTPUT_FLAG,
  NAMESPACE_FLAG,
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
  { name: 'watch', short: 'w', help: 'After the table, print a row for every change (from a cluster).' },
  ...KUBECONFIG_FLAGS,
  ...CLI_TEMPORAL_FLAGS,
];
const FORMATS = ['json', 'name', 'wide', 'yaml'];
/** storkctl's short names that are not the CRDs' own. */
const STORKCTL_ALIASES: Record<string, string> = { cp: 'clusterpair' };

/** Every name `get` takes for a kind (for completion). */
export const RESOURCE_NAMES: readonly string[] = [
  ...KINDS.flatMap((k) => [k.singular, k.plural, ...k.shortNames]),
  ...Object.keys(STORKCTL_ALIASES),
];

/** The kind a RESOURCE argument names; a usage error listing them all otherwise. */
export function resourceArg(resource: string): KindInfo {
  const info = resourceInfo(STORKCTL_ALIASES[resource] ?? resource);
  if (!info) throw new UsageError(`unknown resource type "${resource}"; one of:\n${resourceList()}`);
  return info;
}

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
  ${program} get RESOURCE [NAME...] [-f FILE] [-o json|yaml|name|wide] [-n NAMESPACE | -A] [-w]

Resources (singular, plural or short name):
${resourceList()}

Examples:
  ${program} get schedulepolicy                      # from the cluster of $KUBECONFIG
  ${program} get migrationschedule -n mysql --kubeconfig source.kubeconfig
  ${program} get migrationschedules -n mysql -o wide    # + RPO and NEXT-TRIGGER (asks Temporal)
  ${program} get migrations -n mysql -w                # the table, then a row per change
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

interface TableOptions {
  now: number;
  withNamespace?: boolean;
  /** -o wide; for schedules, each one's next trigger (absent: the workflow did not answer). */
  wide?: boolean;
  nextTriggers?: ReadonlyMap<string, string>;
}

/** Header and rows of a kind's table: Stork's columns where storkctl has them, else the CRD's. */
function columnsOf(info: KindInfo, objects: KnownObject[], t: TableOptions): [string[], string[][]] {
  const now = t.now;
  if (info.kind === 'MigrationSchedule') {
    if (!t.wide) return [SCHEDULE_COLUMNS, objects.map(scheduleRow)];
    const rows = objects.map((o) =>
      scheduleWideRow(o, now, t.nextTriggers?.get(`${o.metadata.namespace}/${o.metadata.name}`)),
    );
    return [SCHEDULE_WIDE_COLUMNS, rows];
  }
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

/** The table's cells; with `withNamespace` (-A on a namespaced kind) a leading NAMESPACE column. */
function cells(info: KindInfo, objects: KnownObject[], t: TableOptions): [string[], string[][]] {
  const [header, rows] = columnsOf(info, objects, t);
  if (!t.withNamespace) return [header, rows];
  return [['NAMESPACE', ...header], rows.map((r, i) => [objects[i]!.metadata.namespace ?? '', ...r])];
}

export function printObjects(cli: Cli, format: string, objects: readonly object[]): void {
  const doc =
    objects.length === 1
      ? objects[0]
      : { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items: objects };
  cli.out(format === 'json' ? `${JSON.stringify(doc, null, 4)}\n` : toYaml(doc));
}

export function runGet(cli: Cli, args: ParsedArgs): number | Promise<number> {
  const [resource, ...names] = args.positionals;
  if (resource === undefined) {
    throw new UsageError(
      `you must specify the type of resource to get, e.g. "${cli.program} get schedulepolicy -f FILE"`,
    );
  }
  const info = resourceArg(resource);
  const format = flagValue(args, 'output');
  if (format !== undefined && !FORMATS.includes(format)) {
    throw new UsageError(
      `invalid value "${format}" for -o/--output: allowed formats are ${FORMATS.join(', ')}`,
    );
  }
  const files = args.flags.get('filename') ?? [];
  if (files.length === 0) return getFromCluster(cli, info, names, format, args);
  if (flagValue(args, 'watch') === 'true') throw new UsageError('-w/--watch reads a cluster: not with -f');
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
  const t = { now: cli.now(), wide: format === 'wide' };
  print(
    cli,
    info,
    format,
    objects,
    code === 0 ? `No ${info.plural} found in the given files.` : undefined,
    t,
  );
  return code;
}

/** Prints the objects; for a table, the column widths (a watch pads its rows to them). */
function print(
  cli: Cli,
  info: KindInfo,
  format: string | undefined,
  objects: KnownObject[],
  noneMessage: string | undefined,
  t: TableOptions,
): number[] | undefined {
  if (format === 'json' || format === 'yaml') printObjects(cli, format, objects);
  else if (format === 'name')
    for (const o of objects) cli.out(`${info.singular}.${API_GROUP}/${o.metadata.name}\n`);
  else {
    const [header, rows] = cells(info, objects, t);
    if (objects.length === 0) {
      if (noneMessage) cli.err(`${noneMessage}\n`);
    } else cli.out(formatTable(header, rows));
    return columnWidths(header, rows);
  }
  return undefined;
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
  args: ParsedArgs,
): Promise<number> {
  const namespace = flagValue(args, 'namespace');
  const allNamespaces = flagValue(args, 'all-namespaces') === 'true';
  const watch = flagValue(args, 'watch') === 'true';
  if (watch && names.length > 1) throw new UsageError('-w/--watch takes one NAME at most');
  const target = { kubeconfig: flagValue(args, 'kubeconfig'), context: flagValue(args, 'context') };
  const pair = flagValue(args, 'clusterpair');
  try {
    const list = await listObjectsAt(target, info, { namespace, allNamespaces, names });
    const objects = byClusterPair(list.items as KnownObject[], info, pair);
    const where =
      info.scope === 'Cluster' || allNamespaces ? '' : ` in ${namespace ?? 'the current'} namespace`;
    const t: TableOptions = {
      now: cli.now(),
      withNamespace: allNamespaces && info.scope === 'Namespaced',
      wide: format === 'wide',
      ...(format === 'wide' && info.kind === 'MigrationSchedule' && objects.length > 0
        ? { nextTriggers: await nextTriggers(cli, args, objects) }
        : {}),
    };
    const widths = print(cli, info, format, objects, `No resources found${where}.`, t);
    if (!watch) return 0;
    // kubectl -w: every change after the list, one row each, in the table's columns.
    await watchObjects(
      target,
      info,
      { namespace, allNamespaces, names, resourceVersion: list.resourceVersion },
      (_type, object) => {
        const changed = byClusterPair([object as KnownObject], info, pair);
        if (changed.length === 0) return;
        if (widths) {
          const [, rows] = cells(info, changed, { ...t, now: cli.now() });
          cli.out(formatRow(rows[0]!, widths));
        } else print(cli, info, format, changed, undefined, t);
      },
    );
    return 0;
  } catch (err) {
    if (!(err instanceof ClusterError)) throw err;
    cli.err(`${err.message}\n`);
    return 1;
  }
}

/** Each schedule's next trigger, from its workflow's status query; none when Temporal is away. */
async function nextTriggers(
  cli: Cli,
  args: ParsedArgs,
  schedules: KnownObject[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let ferry;
  try {
    ferry = await connectFromFlags(args, { connectTimeoutMs: 5000, queryTimeoutMs: 5000 });
  } catch (err) {
    cli.err(`Warning: NEXT-TRIGGER unknown: ${(err as Error).message}\n`);
    return out;
  }
  try {
    await Promise.all(
      schedules.map(async (s) => {
        const ns = s.metadata.namespace ?? 'default';
        try {
          const status = await ferry.scheduleStatus(ns, s.metadata.name);
          out.set(`${ns}/${s.metadata.name}`, status.nextTrigger ?? '');
        } catch {
          // <unknown> in the table
        }
      }),
    );
  } finally {
    await ferry.close();
  }
  return out;
}

export const getCommand: CommandDef = {
  name: 'get',
  summary: 'Display objects from the cluster or from manifests (e.g. get migrationschedules)',
  flags: FLAGS,
  help: getHelp,
  run: runGet,
  completes: RESOURCE_NAMES,
};
