// A ClusterPair as activities use it: the standby's API from the pair's kubeconfig and the
// destination agent from its options (ip, port, token, caCert, mode). Read here, never passed
// through a workflow, so neither kubeconfig nor token lands in a history.
//
// The check sets status as Stork does: schedulerStatus Ready once the standby's API answers
// /version with the pair's kubeconfig, storageStatus Ready once the destination agent accepts
// the token (NotProvided when the pair names no agent), Error otherwise, with an Event each.
// How the source agent trusts the destination agent: `options.caCert` (PEM, or base64 of PEM)
// is the CA it verifies the destination's certificate with; without it, the system's CAs. Ferry
// never skips verification.
import { Context } from '@temporalio/activity';
import { AgentApiError, AgentClient, type AgentEndpoint } from '../datapath/client.js';
import { isPlainObject } from '../resources/objects.js';
import type { ActivityDeps } from './deps.js';
import { fail } from './errors.js';
import { KubeClient, KubeError } from './kube/client.js';
import { recordEvent, storkKind } from './kube/stork.js';
import { NON_RETRYABLE, type ClusterPairCheck, type ObjectRef } from './types.js';

export interface LoadedClusterPair {
  uid: string;
  standby: KubeClient;
  /** null when the pair names no storage agent. */
  destination: AgentEndpoint | null;
  mode: string;
}

const CLUSTER_PAIR = storkKind('ClusterPair');

export async function loadClusterPair(
  deps: ActivityDeps,
  ref: ObjectRef,
  signal?: AbortSignal,
): Promise<LoadedClusterPair> {
  const cp = await deps.source.get(CLUSTER_PAIR, ref.namespace, ref.name, signal);
  if (!cp) fail(NON_RETRYABLE.notFound, `ClusterPair ${ref.namespace}/${ref.name} not found`);
  const spec = isPlainObject(cp['spec']) ? cp['spec'] : {};
  let standby: KubeClient;
  try {
    standby = KubeClient.fromString(JSON.stringify(spec['config'] ?? {}), { timeoutMs: 15_000 });
  } catch (err) {
    fail(
      NON_RETRYABLE.clusterPair,
      `ClusterPair ${ref.namespace}/${ref.name}: spec.config is not a usable kubeconfig: ${(err as Error).message}`,
    );
  }
  const options = (isPlainObject(spec['options']) ? spec['options'] : {}) as Record<string, string>;
  return {
    uid: String(cp.metadata?.uid ?? ''),
    standby,
    destination: destinationOf(ref, options),
    mode: options['mode'] ?? '',
  };
}

function destinationOf(ref: ObjectRef, options: Record<string, string>): AgentEndpoint | null {
  const ip = options['ip']?.trim();
  const token = options['token']?.trim();
  if (!ip && !token) return null;
  if (!ip || !token)
    fail(
      NON_RETRYABLE.clusterPair,
      `ClusterPair ${ref.namespace}/${ref.name}: spec.options needs both ip and token (${ip ? 'token' : 'ip'} is missing)`,
    );
  const host = ip.includes(':') && !ip.startsWith('[') ? `[${ip}]` : ip;
  const port = options['port']?.trim() || '9001';
  const ca = options['caCert']?.trim();
  return {
    url: `https://${host}:${port}`,
    token,
    ...(ca
      ? { caCertPem: ca.startsWith('-----BEGIN') ? ca : Buffer.from(ca, 'base64').toString('utf8') }
      : {}),
  };
}

export async function checkClusterPair(deps: ActivityDeps, ref: ObjectRef): Promise<ClusterPairCheck> {
  const signal = Context.current().cancellationSignal;
  const pair = await loadClusterPair(deps, ref, signal);
  const involved = { kind: 'ClusterPair', ...ref, uid: pair.uid };
  const setStatus = async (schedulerStatus: string, storageStatus: string) => {
    await deps.source
      .mergePatch(
        CLUSTER_PAIR,
        ref.namespace,
        ref.name,
        { status: { schedulerStatus, storageStatus } },
        { subresource: 'status', signal },
      )
      .catch(() => undefined); // the status is a mirror: a failed write must not fail the check
  };
  let standbyVersion: string;
  try {
    standbyVersion = (await pair.standby.serverVersion(signal)).gitVersion;
  } catch (err) {
    const reason = err instanceof KubeError ? err.message : String(err);
    await setStatus('Error', 'Pending');
    await recordEvent(
      deps.source,
      involved,
      { type: 'Warning', reason: 'Error', message: `Error pairing scheduler: ${reason}` },
      signal,
    ).catch(() => undefined);
    if (err instanceof KubeError && (err.code === 401 || err.code === 403))
      fail(
        NON_RETRYABLE.unauthorized,
        `ClusterPair ${ref.namespace}/${ref.name}: the standby's API server refused the pair's credentials: ${reason}`,
      );
    throw new Error(`ClusterPair ${ref.namespace}/${ref.name}: standby API server unreachable: ${reason}`);
  }
  if (!pair.destination) {
    await setStatus('Ready', 'NotProvided');
    return { mode: pair.mode, storage: false, standbyVersion };
  }
  const client = new AgentClient(pair.destination, { timeoutMs: 10_000 });
  try {
    await client.info();
  } catch (err) {
    await setStatus('Ready', 'Error');
    const reason = (err as Error).message;
    await recordEvent(
      deps.source,
      involved,
      { type: 'Warning', reason: 'Error', message: `Error pairing storage: ${reason}` },
      signal,
    ).catch(() => undefined);
    if (err instanceof AgentApiError && (err.status === 401 || err.status === 403))
      fail(
        NON_RETRYABLE.unauthorized,
        `ClusterPair ${ref.namespace}/${ref.name}: the destination agent at ${pair.destination.url} refused the token (options.token)`,
      );
    throw new Error(
      `ClusterPair ${ref.namespace}/${ref.name}: destination agent ${pair.destination.url} unreachable: ${reason}`,
    );
  } finally {
    client.close();
  }
  await setStatus('Ready', 'Ready');
  return { mode: pair.mode, storage: true, standbyVersion };
}
