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
import { AgentApiError, AgentClient, type AgentEndpoint } from '../datapath/client/client.js';
import { isPlainObject } from '../resources/objects.js';
import type { ActivityDeps } from './deps.js';
import { fail } from './errors.js';
import { KubeClient, KubeError } from '../kube/client.js';
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
  return parseClusterPair(ref, cp);
}

// A kubeconfig entry that makes the worker run a program or read one of its own files (its
// service account token, the agent token) and send the result to the pair's server: refused, so
// whoever may write a ClusterPair cannot run code on the worker or take its credentials.
const LOCAL_USER_FIELDS = [
  'exec',
  'auth-provider',
  'token-file',
  'tokenFile',
  'client-certificate',
  'client-key',
];
const LOCAL_CLUSTER_FIELDS = ['certificate-authority'];

function localReferences(config: unknown): string[] {
  if (!isPlainObject(config)) return [];
  const found: string[] = [];
  const scan = (list: unknown, section: string, inner: string, fields: string[]) => {
    const entries = Array.isArray(list)
      ? list.map((e, i) => [`[${i}]`, e] as const)
      : isPlainObject(list)
        ? Object.entries(list).map(([k, e]) => [`.${k}`, e] as const)
        : [];
    for (const [at, entry] of entries) {
      const body = isPlainObject(entry) ? entry[inner] : undefined;
      if (!isPlainObject(body)) continue;
      for (const f of fields)
        if (body[f] !== undefined) found.push(`spec.config.${section}${at}.${inner}.${f}`);
    }
  };
  scan(config['users'], 'users', 'user', LOCAL_USER_FIELDS);
  scan(config['clusters'], 'clusters', 'cluster', LOCAL_CLUSTER_FIELDS);
  return found;
}

/** A ClusterPair object as activities use it; a bad one is a ClusterPairError naming the field. */
export function parseClusterPair(ref: ObjectRef, cp: Record<string, unknown>): LoadedClusterPair {
  const name = `ClusterPair ${ref.namespace}/${ref.name}`;
  const spec = isPlainObject(cp['spec']) ? cp['spec'] : {};
  const local = localReferences(spec['config']);
  if (local.length > 0)
    fail(
      NON_RETRYABLE.clusterPair,
      `${name}: ${local.join(', ')}: refused: a ClusterPair's kubeconfig must carry its credentials inline (token, client-certificate-data, client-key-data, certificate-authority-data), not run programs or name files on the worker (storkctl generate clusterpair inlines them)`,
    );
  let standby: KubeClient;
  try {
    standby = KubeClient.fromString(JSON.stringify(spec['config'] ?? {}), { timeoutMs: 15_000 });
  } catch (err) {
    fail(
      NON_RETRYABLE.clusterPair,
      `${name}: spec.config is not a usable kubeconfig: ${(err as Error).message}`,
    );
  }
  const rawOptions = isPlainObject(spec['options']) ? spec['options'] : {};
  for (const [key, value] of Object.entries(rawOptions))
    if (typeof value !== 'string')
      fail(
        NON_RETRYABLE.clusterPair,
        `${name}: spec.options.${key}: expected a string, got ${JSON.stringify(value) ?? String(value)}`,
      );
  const options = rawOptions as Record<string, string>;
  const metadata = isPlainObject(cp['metadata']) ? cp['metadata'] : {};
  return {
    uid: String(metadata['uid'] ?? ''),
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
