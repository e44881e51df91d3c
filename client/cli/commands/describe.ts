// `describe RESOURCE NAME [-n NS]`: one object of the cluster of --kubeconfig as `kubectl describe`
// prints it (describe-format.ts): metadata, spec, status, and the object's Events. A Migration's
// per-resource list is cut to counts per status and kind (plus every failed one); a schedule gets
// a Workflow section (next trigger, counts, suspension) when its workflow answers the status query.

import type { KindInfo } from '../../../api/index.js';
import { KINDS as KUBE_KINDS, KubeClient, KubeError } from '../../../kube/client.js';
import { ClusterError, kubeClient, resourceKind } from '../../cluster.js';
import { FerryError } from '../../sdk.js';
import { flagValue, formatFlags, UsageError, type FlagSpec, type ParsedArgs } from '../args.js';
import { describeObject, type EventLike } from '../describe-format.js';
import type { Cli } from '../io.js';
import type { CommandDef } from '../program.js';
import { CLI_TEMPORAL_FLAGS, connectFromFlags } from '../temporal-flags.js';
import { KUBECONFIG_FLAGS, NAMESPACE_FLAG, RESOURCE_NAMES, resourceArg } from './get.js';

type Obj = Record<string, unknown>;

const FLAGS: FlagSpec[] = [NAMESPACE_FLAG, ...KUBECONFIG_FLAGS, ...CLI_TEMPORAL_FLAGS];

export function describeHelp(program: string): string {
  return `Show one object in detail, as kubectl describe does: metadata, spec, status (a schedule's
migrations per policy type; a migration's stages, volumes with bytes and resource counts) and the
object's Events. A schedule also shows what its workflow says (next trigger, counts) when Temporal
answers.

Usage:
  ${program} describe RESOURCE NAME [-n NAMESPACE] [--kubeconfig FILE]

Examples:
  ${program} describe migrationschedule mysql-sched -n mysql
  ${program} describe migration mysql-sched-interval-2026-12-01-142700 -n mysql

Flags:
${formatFlags(FLAGS)}
`;
}

/** A Migration's resources as counts (`Successful: 12 (ConfigMap 3, Deployment 1, ...)`). */
export function resourceCounts(resources: unknown): Obj {
  const list = Array.isArray(resources) ? (resources as Obj[]) : [];
  const byStatus = new Map<string, Map<string, number>>();
  for (const r of list) {
    const status = String(r['status'] || 'Unknown');
    const kinds = byStatus.get(status) ?? new Map<string, number>();
    kinds.set(String(r['kind']), (kinds.get(String(r['kind'])) ?? 0) + 1);
    byStatus.set(status, kinds);
  }
  const out: Obj = {};
  for (const [status, kinds] of byStatus) {
    const total = [...kinds.values()].reduce((a, b) => a + b, 0);
    const detail = [...kinds].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k} ${n}`);
    out[status] = `${total} (${detail.join(', ')})`;
  }
  const failed = list.filter((r) => r['status'] === 'Failed');
  if (failed.length > 0)
    out['failed'] = failed.map(
      (r) => `${String(r['kind'])} ${String(r['namespace'])}/${String(r['name'])}: ${String(r['reason'])}`,
    );
  return out;
}

async function runDescribe(cli: Cli, args: ParsedArgs): Promise<number> {
  const [resource, name, ...extra] = args.positionals;
  if (resource === undefined)
    throw new UsageError(
      `you must specify the type of resource to describe, e.g. "${cli.program} describe migrationschedule NAME"`,
    );
  const info: KindInfo = resourceArg(resource);
  if (name === undefined)
    throw new UsageError(`the ${info.singular} name is missing: describe ${resource} NAME`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  try {
    const { kube, namespace } = kubeClient(
      { kubeconfig: flagValue(args, 'kubeconfig'), context: flagValue(args, 'context') },
      flagValue(args, 'namespace'),
    );
    const ns = info.scope === 'Namespaced' ? namespace : undefined;
    const object = (await kube.get(resourceKind(info), ns, name)) as Obj | undefined;
    if (!object) {
      cli.err(`Error from server (NotFound): ${info.plural}.stork.libopenstorage.org "${name}" not found\n`);
      return 1;
    }
    const events = (
      await kube.request<{ items: EventLike[] }>('GET', KubeClient.path(KUBE_KINDS.event, ns ?? 'default'), {
        query: { fieldSelector: `involvedObject.name=${name},involvedObject.kind=${info.kind}` },
      })
    ).items;
    let shown: Obj = object;
    const extraSections: Obj = {};
    if (info.kind === 'Migration' && object['status']) {
      const status = object['status'] as Obj;
      shown = { ...object, status: { ...status, resources: resourceCounts(status['resources']) } };
    }
    if (info.kind === 'MigrationSchedule')
      extraSections['workflow'] = await scheduleWorkflow(args, ns!, name);
    cli.out(describeObject(shown, events, cli.now(), extraSections));
    return 0;
  } catch (err) {
    if (!(err instanceof ClusterError || err instanceof KubeError)) throw err;
    cli.err(`error: ${err.message}\n`);
    return 1;
  }
}

/** What the schedule's workflow says, or why it says nothing. */
async function scheduleWorkflow(args: ParsedArgs, namespace: string, name: string): Promise<Obj> {
  const id = `migrationschedule/${namespace}/${name}`;
  try {
    const ferry = await connectFromFlags(args, { connectTimeoutMs: 5000, queryTimeoutMs: 5000 });
    try {
      const s = await ferry.scheduleStatus(namespace, name);
      return {
        id,
        suspended: s.suspended || s.spec?.suspend === true,
        nextTrigger: s.nextTrigger ?? '<none>',
        counts: s.counts,
        ...(s.lastError ? { lastError: s.lastError } : {}),
      };
    } finally {
      await ferry.close();
    }
  } catch (err) {
    if (!(err instanceof FerryError)) throw err;
    return { id, unavailable: err.message };
  }
}

export const describeCommand: CommandDef = {
  name: 'describe',
  summary: 'Show one object in detail with its Events (describe migrationschedule NAME)',
  flags: FLAGS,
  help: describeHelp,
  run: runDescribe,
  completes: RESOURCE_NAMES,
};
