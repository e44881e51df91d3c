// Resources of a migration: collect from the source, rewrite for the standby, apply, purge.
// Bodies stay inside this activity; the workflow gets per-object statuses and counts.
//
//   namespaces → CRDs of migrated custom resources → PVs → PVCs, ServiceAccounts, RBAC,
//   config → Services → workloads and the rest (resources/plan.ts's order)
//
// Apply is server-side apply with field manager "ferry", forced; an object whose resource-hash
// annotation on the standby equals the new one is not rewritten at all. With
// purgeDeletedResources, what an earlier migration put on the standby and the source no longer
// has is deleted (resources/plan.ts says what qualifies).
import { Context } from '@temporalio/activity';
import {
  formatIssue,
  validateObject,
  type MigrationResourceInfo,
  type ResourceTransformationSpec,
} from '../api/index.js';
import { applyTransformations } from '../resources/transformation.js';
import { fail } from './errors.js';
import { storkKind } from './kube/stork.js';
import { NON_RETRYABLE } from './types.js';
import {
  isPlainObject,
  nameOf,
  namespaceOf,
  type KubeObject,
  type ResourceKind,
} from '../resources/objects.js';
import { applyAction, applyRank, purgeList } from '../resources/plan.js';
import { isCollectedKind, preferredKinds, skipReason } from '../resources/select.js';
import { toStandby, type StandbyContext } from '../resources/standby.js';
import { loadClusterPair } from './cluster-pair.js';
import type { ActivityDeps } from './deps.js';
import { KINDS, KubeClient, KubeError } from '../kube/client.js';
import type { ResourcesInput, ResourcesResult } from './types.js';

const PARALLEL = 8;
/** Successful objects listed one by one; failures and purges are always listed. */
export const LISTED_SUCCESSES = 500;
const RESOURCE_TRANSFORMATION = storkKind('ResourceTransformation');

export async function migrateResources(deps: ActivityDeps, input: ResourcesInput): Promise<ResourcesResult> {
  const ctx = Context.current();
  const signal = ctx.cancellationSignal;
  const { spec } = input;
  const { standby } = await loadClusterPair(
    deps,
    { namespace: input.migration.namespace, name: spec.clusterPair },
    signal,
  );
  const result: ResourcesResult = {
    resources: [],
    unlisted: 0,
    succeeded: 0,
    created: 0,
    updated: 0,
    unchanged: 0,
    purged: 0,
    failed: 0,
  };
  let done = 0;
  const record = (kind: ResourceKind, o: KubeObject, status: string, reason = '') => {
    done++;
    ctx.heartbeat({ done });
    if (status === 'Successful') {
      result.succeeded++;
      // Past the cap a success is only counted: history and the CR stay bounded (see types.ts).
      if (result.succeeded > LISTED_SUCCESSES) {
        result.unlisted++;
        return;
      }
    }
    result.resources.push({
      name: nameOf(o),
      namespace: namespaceOf(o),
      group: kind.group || 'core',
      version: kind.version,
      kind: kind.kind,
      status,
      reason,
    } as MigrationResourceInfo);
    if (status === 'Failed') result.failed++;
  };
  const transformations = await loadTransformations(
    deps,
    input.migration.namespace,
    spec.transformSpecs ?? [],
    signal,
  );
  const standbyCtx: StandbyContext = {
    migrationName: input.migration.name,
    migrationNamespace: input.migration.namespace,
    migrationTime: input.migrationTime,
    startApplications: spec.startApplications,
    volumePaths: new Map(Object.entries(input.volumePaths)),
  };
  const apply = async (kind: ResourceKind, desired: KubeObject, existing: KubeObject | undefined) => {
    const action = applyAction(desired, existing);
    if (
      action === 'unchanged' ||
      (existing && kind.group === '' && kind.kind === 'Service' && spec.skipServiceUpdate)
    ) {
      result.unchanged++;
      return record(kind, desired, 'Successful');
    }
    try {
      await applyReplacing(standby, kind, desired, signal);
      if (action === 'create') result.created++;
      else result.updated++;
      record(kind, desired, 'Successful');
    } catch (err) {
      if (signal.aborted) throw err;
      record(kind, desired, 'Failed', `Error applying resource: ${(err as Error).message}`);
    }
  };

  // Namespaces first, with the source's labels and annotations.
  for (const ns of input.namespaces) {
    const source = await deps.source.get(KINDS.namespace, undefined, ns, signal);
    if (!source) continue;
    const desired = toStandby(
      KINDS.namespace,
      { apiVersion: 'v1', kind: 'Namespace', metadata: source.metadata },
      standbyCtx,
    );
    await apply(KINDS.namespace, desired, await standby.get(KINDS.namespace, undefined, ns, signal));
  }

  const { kinds, preferred } = await deps.source.discover(signal);
  const collected = preferredKinds(kinds, preferred)
    .filter((k) => isCollectedKind(k, spec))
    .sort((a, b) => applyRank(a) - applyRank(b));
  const collectedNames = new Set(collected.map((k) => k.kind));
  const crds = await customResourceDefinitions(deps.source, signal);

  // What to migrate, kind by kind, before anything is written: CRDs and PVs go first.
  const plan: Array<{
    kind: ResourceKind;
    namespace: string;
    objects: KubeObject[];
    sourceNames: Set<string>;
  }> = [];
  for (const kind of collected) {
    for (const ns of input.namespaces) {
      const items = (await deps.source.list(kind, ns, { signal })).items;
      const objects = items.filter((o) => skipReason(kind, o, spec, collectedNames) === null);
      plan.push({ kind, namespace: ns, objects, sourceNames: new Set(items.map(nameOf)) });
    }
  }
  const neededCrds = new Set(
    plan.filter((p) => p.objects.length > 0).map((p) => `${p.kind.group}/${p.kind.kind}`),
  );
  for (const [key, crd] of crds) {
    if (!neededCrds.has(key)) continue;
    const desired = toStandby(KINDS.crd, crd, standbyCtx);
    await apply(KINDS.crd, desired, await standby.get(KINDS.crd, undefined, nameOf(crd), signal));
    await waitEstablished(standby, nameOf(crd), signal);
  }
  if (spec.includeVolumes !== false) {
    for (const pvName of Object.keys(input.volumePaths).sort()) {
      const pv = await deps.source.get(KINDS.pv, undefined, pvName, signal);
      if (!pv) continue;
      await apply(
        KINDS.pv,
        toStandby(KINDS.pv, pv, standbyCtx),
        await standby.get(KINDS.pv, undefined, pvName, signal),
      );
    }
  }

  for (const step of plan) {
    const existing = await standbyObjects(standby, step.kind, step.namespace, signal);
    await inParallel(step.objects, PARALLEL, async (o) => {
      let transformed: KubeObject;
      try {
        transformed = transformations.length > 0 ? applyTransformations(o, transformations).object : o;
      } catch (err) {
        return record(step.kind, o, 'Failed', `Error transforming resource: ${(err as Error).message}`);
      }
      await apply(step.kind, toStandby(step.kind, transformed, standbyCtx), existing.get(nameOf(o)));
    });
    if (!spec.purgeDeletedResources) continue;
    for (const gone of purgeList(step.kind, [...existing.values()], step.sourceNames)) {
      try {
        await standby.delete(step.kind, step.namespace, nameOf(gone), signal);
        result.purged++;
        record(step.kind, gone, 'Purged');
      } catch (err) {
        if (signal.aborted) throw err;
        record(step.kind, gone, 'Failed', `Error purging resource: ${(err as Error).message}`);
      }
    }
  }
  return result;
}

/** The ResourceTransformations a migration names (spec.transformSpecs), validated, in order. */
async function loadTransformations(
  deps: ActivityDeps,
  namespace: string,
  names: readonly string[],
  signal: AbortSignal,
): Promise<ResourceTransformationSpec[]> {
  const specs: ResourceTransformationSpec[] = [];
  for (const [i, name] of names.entries()) {
    const raw = await deps.source.get(RESOURCE_TRANSFORMATION, namespace, name, signal);
    if (!raw)
      fail(
        NON_RETRYABLE.notFound,
        `spec.transformSpecs[${i}]: ResourceTransformation ${namespace}/${name} not found`,
      );
    const { object, issues } = validateObject({ ...raw, status: undefined });
    if (!object || object.kind !== 'ResourceTransformation') {
      const errors = issues.filter((x) => x.severity === 'error').map(formatIssue);
      fail(NON_RETRYABLE.invalidSpec, `spec.transformSpecs[${i}]: ${errors.join('; ')}`);
    }
    specs.push(object.specs);
  }
  return specs;
}

/** Server-side apply; a change to an immutable field is applied by deleting and re-creating. */
async function applyReplacing(
  kube: KubeClient,
  kind: ResourceKind,
  o: KubeObject,
  signal: AbortSignal,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await kube.apply(kind, o, signal);
      return;
    } catch (err) {
      if (!(err instanceof KubeError)) throw err;
      const immutable = err.code === 422 && /immutable/i.test(err.message);
      const replaceable = !['PersistentVolume', 'PersistentVolumeClaim', 'Namespace'].includes(kind.kind);
      if (immutable && replaceable && attempt === 0) {
        await kube.delete(kind, o.metadata?.namespace, nameOf(o), signal);
        continue;
      }
      // A CRD just established may not be served yet for a moment.
      if (err.code === 404 && attempt < 10) {
        await new Promise((r) => setTimeout(r, 300));
        continue;
      }
      throw err;
    }
  }
}

async function standbyObjects(
  kube: KubeClient,
  kind: ResourceKind,
  ns: string,
  signal: AbortSignal,
): Promise<Map<string, KubeObject>> {
  try {
    return new Map((await kube.list(kind, ns, { signal })).items.map((o) => [nameOf(o), o]));
  } catch (err) {
    // The standby does not serve this kind yet (its CRD comes with this migration).
    if (err instanceof KubeError && err.code === 404) return new Map();
    throw err;
  }
}

/** The source's CRDs by "group/Kind". */
async function customResourceDefinitions(
  kube: KubeClient,
  signal: AbortSignal,
): Promise<Map<string, KubeObject>> {
  const items = (await kube.list(KINDS.crd, undefined, { signal })).items;
  const byKind = new Map<string, KubeObject>();
  for (const crd of items) {
    const spec = crd['spec'];
    if (!isPlainObject(spec) || !isPlainObject(spec['names'])) continue;
    byKind.set(`${String(spec['group'])}/${String(spec['names']['kind'])}`, crd);
  }
  return byKind;
}

async function waitEstablished(kube: KubeClient, name: string, signal: AbortSignal): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const crd = await kube.get(KINDS.crd, undefined, name, signal);
    const conditions = isPlainObject(crd?.['status']) ? crd['status']['conditions'] : undefined;
    if (
      Array.isArray(conditions) &&
      conditions.some((c) => isPlainObject(c) && c['type'] === 'Established' && c['status'] === 'True')
    )
      return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`CustomResourceDefinition ${name} not established on the standby within 10 s`);
}

async function inParallel<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
