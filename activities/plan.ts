// What a migration covers, read from the source: its namespaces (listed ones that exist, plus
// those whose labels match namespaceSelectors) and each PVC's volume on the source agent.
import { Context } from '@temporalio/activity';
import { AgentClient } from '../datapath/client/client.js';
import { matchesSelectors } from '../resources/select.js';
import { labelsOf, nameOf } from '../resources/objects.js';
import { resolveVolume } from '../resources/volumes.js';
import type { ActivityDeps } from './deps.js';
import { fail } from './errors.js';
import { KINDS, type KubeClient } from '../kube/client.js';
import type { MigrationSpec } from '../api/index.js';
import { NON_RETRYABLE, type MigrationPlan, type PlanInput } from './types.js';
import path from 'node:path';

export async function planMigration(deps: ActivityDeps, input: PlanInput): Promise<MigrationPlan> {
  const signal = Context.current().cancellationSignal;
  const spec = input.spec;
  const { namespaces, skippedNamespaces } = await migrationNamespaces(deps.source, spec, signal);
  if (skippedNamespaces.length > 0 && spec.skipDeletedNamespaces === false) {
    fail(
      NON_RETRYABLE.notFound,
      `spec.namespaces: namespace ${skippedNamespaces.join(', ')} not found on the source (skipDeletedNamespaces is false)`,
    );
  }

  const volumes: MigrationPlan['volumes'] = [];
  if (spec.includeVolumes !== false && namespaces.length > 0) {
    const agent = new AgentClient(deps.agent, { timeoutMs: 15_000 });
    try {
      const volumesRoot = path.join((await agent.info()).dataRoot, 'volumes');
      const pvs = (await deps.source.list(KINDS.pv, undefined, { signal })).items;
      for (const ns of namespaces) {
        const pvcs = (await deps.source.list(KINDS.pvc, ns, { signal })).items;
        for (const pvc of pvcs) {
          if (!matchesSelectors(labelsOf(pvc), spec.selectors, spec.excludeSelectors)) continue;
          volumes.push(resolveVolume(pvc, pvs, volumesRoot));
        }
      }
    } finally {
      agent.close();
    }
  }
  return { namespaces, skippedNamespaces, volumes };
}

/**
 * The namespaces a migration spec covers on the source: listed ones that exist plus those
 * whose labels match namespaceSelectors (Stork ORs them), sorted; and the listed ones missing.
 */
export async function migrationNamespaces(
  source: KubeClient,
  spec: Pick<MigrationSpec, 'namespaces' | 'namespaceSelectors'>,
  signal?: AbortSignal,
): Promise<{ namespaces: string[]; skippedNamespaces: string[] }> {
  const all = (await source.list(KINDS.namespace, undefined, { signal })).items;
  const existing = new Set(all.map(nameOf));
  const listed = spec.namespaces ?? [];
  const selected = Object.entries(spec.namespaceSelectors ?? {}).flatMap(([k, v]) =>
    all.filter((ns) => labelsOf(ns)[k] === v).map(nameOf),
  );
  return {
    namespaces: [...new Set([...listed.filter((n) => existing.has(n)), ...selected])].sort(),
    skippedNamespaces: listed.filter((n) => !existing.has(n)),
  };
}
