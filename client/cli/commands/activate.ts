// `activate migrations -n NS | -a` and `deactivate migrations …`: failover (and its undo) on the
// standby of --kubeconfig. Activate first promotes, through the standby's agent (--agent-url), the
// latest restore point of every migrated volume not yet promoted, then scales the migrated
// workloads to their `migrationReplicas` and resumes migrated CronJobs; deactivate scales them to
// 0 and suspends the CronJobs (volumes untouched); both set `status.applicationActivated` on the
// MigrationSchedules whose template lists the namespace. Everything is read and checked before
// the first change: a volume without a restore point refuses the whole activation. Both are
// idempotent.
// The decisions are client/activation.ts; this file reads, prints and writes.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { KubeClient, KubeError, KINDS } from '../../../kube/client.js';
import type { KubeObject } from '../../../resources/objects.js';
import { AgentApiError, AgentClient, AgentUnreachableError } from '../../../datapath/client/client.js';
import {
  alreadyPromotedMessage,
  migratedVolumes,
  MIGRATION_SCHEDULE_KIND,
  planSchedules,
  planVolumes,
  podsUsingClaims,
  planWorkloads,
  promotedMessage,
  WORKLOAD_KINDS,
  type Direction,
  type VolumeState,
  type WorkloadChange,
  type WorkloadKind,
} from '../../activation.js';
import { ClusterError, loadKubeConfig, namespaceOf } from '../../cluster.js';
import { flagValue, formatFlags, UsageError, type FlagSpec, type ParsedArgs } from '../args.js';
import type { Cli } from '../io.js';
import type { CommandDef } from '../program.js';

const FLAGS: FlagSpec[] = [
  { name: 'namespace', short: 'n', value: 'NAMESPACE', help: 'The namespace whose migrated apps to change.' },
  {
    name: 'all-namespaces',
    short: 'a',
    shortAliases: ['A'],
    help: 'Every namespace (-a or -A).',
  },
  {
    name: 'kubeconfig',
    value: 'FILE',
    help: "The standby's kubeconfig (default $KUBECONFIG, ~/.kube/config).",
  },
  { name: 'context', value: 'NAME', help: 'Kubeconfig context to use.' },
  {
    name: 'agent-url',
    value: 'URL',
    help: "Control URL of the standby's storage agent (default $FERRY_AGENT_URL); without it volumes are not promoted.",
  },
  {
    name: 'agent-token-file',
    value: 'FILE',
    help: "A file holding the standby agent's token (default $FERRY_AGENT_TOKEN_FILE).",
  },
  {
    name: 'agent-ca-file',
    value: 'FILE',
    help: "PEM CA the standby agent's certificate is signed by (default $FERRY_AGENT_CA_FILE).",
  },
];

export function activateHelp(program: string, direction: Direction = 'activate'): string {
  const what =
    direction === 'activate'
      ? `Fail over to this cluster (the standby): promote each migrated volume's latest restore point
through the standby's agent, then scale migrated Deployments/StatefulSets/ReplicaSets to their
stork.libopenstorage.org/migrationReplicas and resume migrated CronJobs. Checks every volume
before changing anything; a volume without a restore point refuses the whole activation.`
      : `Undo an activation: scale migrated Deployments/StatefulSets/ReplicaSets to 0 and suspend
migrated CronJobs (volumes are left as they are).`;
  return `${what} Idempotent.

Usage:
  ${program} ${direction} migrations (-n NAMESPACE | -a) [--kubeconfig FILE] [--agent-url URL --agent-token-file FILE --agent-ca-file FILE]

Examples:
  ${program} ${direction} migrations -n postgres --kubeconfig standby.kubeconfig${direction === 'activate' ? ' \\\n      --agent-url https://10.0.0.5:9001 --agent-token-file token --agent-ca-file ca.pem' : ''}
  ${program} ${direction} migrations -a

Flags:
${formatFlags(FLAGS)}
`;
}

export const deactivateHelp = (program: string): string => activateHelp(program, 'deactivate');

export const activateCommand: CommandDef = {
  name: 'activate',
  summary: 'Fail over: promote migrated volumes and start migrated apps (activate migrations -n NS)',
  flags: FLAGS,
  help: activateHelp,
  run: (cli, args) => run(cli, args, 'activate'),
  completes: ['migrations'],
};

export const deactivateCommand: CommandDef = {
  name: 'deactivate',
  summary: 'Stop migrated apps again: scale to 0, suspend CronJobs (deactivate migrations -n NS)',
  flags: FLAGS,
  help: deactivateHelp,
  run: (cli, args) => run(cli, args, 'deactivate'),
  completes: ['migrations'],
};

interface AgentFlags {
  url: string;
  tokenFile: string | undefined;
  caFile: string | undefined;
}

async function run(cli: Cli, args: ParsedArgs, direction: Direction): Promise<number> {
  const [what, ...extra] = args.positionals;
  if (what === undefined)
    throw new UsageError(`what to ${direction} is missing: ${direction} migrations -n NAMESPACE`);
  if (!['migrations', 'migration'].includes(what))
    throw new UsageError(`cannot ${direction} "${what}": only migrations`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const all = flagValue(args, 'all-namespaces') === 'true';
  const namespaceFlag = flagValue(args, 'namespace');
  if (all && namespaceFlag !== undefined)
    throw new UsageError('-n/--namespace and -a/--all-namespaces: give one of them');
  const agentUrl = flagValue(args, 'agent-url') ?? (process.env['FERRY_AGENT_URL'] || undefined);
  const agent: AgentFlags | undefined = agentUrl
    ? {
        url: agentUrl,
        tokenFile:
          flagValue(args, 'agent-token-file') ?? (process.env['FERRY_AGENT_TOKEN_FILE'] || undefined),
        caFile: flagValue(args, 'agent-ca-file') ?? (process.env['FERRY_AGENT_CA_FILE'] || undefined),
      }
    : undefined;
  if (agent && !agent.tokenFile)
    throw new UsageError('--agent-url needs --agent-token-file (or $FERRY_AGENT_TOKEN_FILE)');

  let kube: KubeClient;
  let namespace: string | undefined;
  try {
    const kc = loadKubeConfig({
      kubeconfig: flagValue(args, 'kubeconfig'),
      context: flagValue(args, 'context'),
    });
    kube = KubeClient.fromKubeConfig(kc);
    namespace = all ? undefined : namespaceOf(kc, namespaceFlag);
  } catch (err) {
    if (err instanceof ClusterError || err instanceof KubeError) {
      cli.err(`error: ${err.message}\n`);
      return 1;
    }
    throw err;
  }

  let client: AgentClient | undefined;
  try {
    client = agent ? openAgent(agent) : undefined;
    const workloads: WorkloadChange[] = [];
    for (const kind of Object.keys(WORKLOAD_KINDS) as WorkloadKind[]) {
      const items = (await kube.list(WORKLOAD_KINDS[kind], namespace)).items;
      workloads.push(...planWorkloads(direction, kind, items));
    }
    const schedules = planSchedules(
      direction,
      await listSchedules(kube),
      namespace === undefined ? undefined : new Set([namespace]),
    );
    let volumes = planVolumes([], new Map());
    if (direction === 'activate') {
      const pvcs = (await kube.list(KINDS.pvc, namespace)).items;
      const pvs = pvcs.length > 0 ? (await kube.list(KINDS.pv)).items : [];
      const root = client ? path.join((await client.info()).dataRoot, 'volumes') : undefined;
      const found = migratedVolumes(pvcs, pvs, root);
      for (const w of found.warnings) cli.err(`Warning: ${w}\n`);
      const state = new Map<string, VolumeState>();
      if (client)
        for (const v of found.volumes)
          if (!state.has(v.volume)) state.set(v.volume, await volumeState(client, v.volume));
      const pods = found.volumes.length > 0 ? (await kube.list(KINDS.pod, namespace)).items : [];
      volumes = planVolumes(found.volumes, state, podsUsingClaims(pods));
      if (volumes.refusals.length > 0) {
        for (const r of volumes.refusals) cli.err(`error: ${r}\n`);
        cli.err(`error: nothing was ${direction}d: every migrated volume needs a restore point first\n`);
        return 1;
      }
    }
    for (const w of workloads.filter((c) => c.warning)) cli.err(`Warning: ${w.message}\n`);
    if (volumes.promote.length + volumes.alreadyPromoted.length + workloads.length + schedules.length === 0) {
      cli.err(`No migrated applications found${namespace ? ` in namespace ${namespace}` : ''}.\n`);
      return 0;
    }
    for (const v of volumes.alreadyPromoted) cli.out(`${alreadyPromotedMessage(v)}\n`);
    for (const v of volumes.promote) {
      const r = await client!.promote(v.volume, v.replace ? { replace: true } : {});
      cli.out(`${promotedMessage(v, r.restorePoint, r.path, r.replaced)}\n`);
    }
    for (const c of workloads.filter((c) => !c.warning)) {
      if (c.patch) await kube.mergePatch(WORKLOAD_KINDS[c.kind], c.namespace, c.name, c.patch);
      cli.out(`${c.message}\n`);
    }
    for (const c of schedules) {
      if (c.patch)
        await kube.mergePatch(MIGRATION_SCHEDULE_KIND, c.namespace, c.name, c.patch, {
          subresource: 'status',
        });
      cli.out(`${c.message}\n`);
    }
    return 0;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if (
      err instanceof KubeError ||
      err instanceof AgentApiError ||
      err instanceof AgentUnreachableError ||
      err instanceof ClusterError
    ) {
      cli.err(`error: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    client?.close();
  }
}

/** Every MigrationSchedule of the standby; none when Ferry's CRDs are not installed there. */
async function listSchedules(kube: KubeClient): Promise<KubeObject[]> {
  try {
    return (await kube.list(MIGRATION_SCHEDULE_KIND)).items;
  } catch (err) {
    if (err instanceof KubeError && err.notFound) return [];
    throw err;
  }
}

function openAgent(agent: AgentFlags): AgentClient {
  const read = (flag: string, file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(
        `${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  };
  return new AgentClient(
    {
      url: agent.url,
      token: read('--agent-token-file', agent.tokenFile!).trim(),
      ...(agent.caFile ? { caCertPem: read('--agent-ca-file', agent.caFile) } : {}),
    },
    { timeoutMs: 60_000 },
  );
}

async function volumeState(client: AgentClient, volume: string): Promise<VolumeState> {
  let exists = true;
  try {
    await client.getVolume(volume);
  } catch (err) {
    if (!(err instanceof AgentApiError && err.status === 404)) throw err;
    exists = false;
  }
  const standby = await client.findStandby(volume);
  return {
    exists,
    latestRestorePoint: standby?.current ?? null,
    promotedFrom: standby?.promoted?.restorePoint ?? null,
  };
}
