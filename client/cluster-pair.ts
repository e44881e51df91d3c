// Making a ClusterPair: the standby's kubeconfig cut to one context with every file it names
// inlined as data (so it works wherever the pair is applied), plus the destination agent's
// options. Shared by `storkctl generate clusterpair`, `npm run up` and the tests.
//
// Trust between the agents: `options.caCert` carries the destination agent's CA (base64 PEM);
// the source agent verifies the destination's certificate with it. Without it the system's CAs
// are used. Ferry never skips verification.
import { KubeConfig } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { API_GROUP, API_VERSION, DISASTER_RECOVERY_MODE } from '../api/index.js';
import { ClusterError } from './cluster.js';

export interface AgentOptions {
  ip?: string;
  port?: string;
  token?: string;
  /** PEM of the CA that signed the destination agent's certificate. */
  caCertPem?: string;
  /** DisasterRecovery (every migration incremental) or '' (every 7th full). */
  mode?: string;
}

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

/** The kubeconfig's current context, self-contained: file references become inline data. */
export function inlineKubeconfig(kc: KubeConfig): Record<string, unknown> {
  const contextName = kc.getCurrentContext();
  const context = kc.getContextObject(contextName);
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (!context || !cluster) throw new ClusterError('the kubeconfig has no current context with a cluster');
  // The worker refuses pairs that would run programs on it (activities/cluster-pair.ts): say so now.
  if (user?.exec || user?.authProvider)
    throw new ClusterError(
      `the kubeconfig's user ${JSON.stringify(user.name)} authenticates with ${user.exec ? 'an exec plugin' : 'an auth provider'}, which a ClusterPair cannot carry: use a kubeconfig with a token or a client certificate (e.g. a service account's)`,
    );
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ClusterError(
        `cannot read the ${what} file ${file} named by the kubeconfig: ${(err as NodeJS.ErrnoException).code}`,
      );
    }
  };
  const clusterEntry: Record<string, unknown> = { server: cluster.server };
  if (cluster.caData) clusterEntry['certificate-authority-data'] = cluster.caData;
  else if (cluster.caFile)
    clusterEntry['certificate-authority-data'] = b64(read(cluster.caFile, 'certificate-authority'));
  if (cluster.skipTLSVerify) clusterEntry['insecure-skip-tls-verify'] = true;
  if (cluster.tlsServerName) clusterEntry['tls-server-name'] = cluster.tlsServerName;
  const userEntry: Record<string, unknown> = {};
  if (user?.token) userEntry['token'] = user.token;
  if (user?.certData) userEntry['client-certificate-data'] = user.certData;
  else if (user?.certFile)
    userEntry['client-certificate-data'] = b64(read(user.certFile, 'client-certificate'));
  if (user?.keyData) userEntry['client-key-data'] = user.keyData;
  else if (user?.keyFile) userEntry['client-key-data'] = b64(read(user.keyFile, 'client-key'));
  if (user?.username) userEntry['username'] = user.username;
  if (user?.password) userEntry['password'] = user.password;
  const userName = user?.name ?? 'user';
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster.name, cluster: clusterEntry }],
    users: [{ name: userName, user: userEntry }],
    contexts: [
      {
        name: contextName,
        context: {
          cluster: cluster.name,
          user: userName,
          ...(context.namespace ? { namespace: context.namespace } : {}),
        },
      },
    ],
    'current-context': contextName,
  };
}

export function clusterPairManifest(
  name: string,
  namespace: string,
  kc: KubeConfig,
  agent: AgentOptions = {},
): Record<string, unknown> {
  const options: Record<string, string> = {
    ip: agent.ip ?? '<ip of the destination storage agent>',
    port: agent.port ?? '9001',
    token: agent.token ?? '<token of the destination storage agent>',
  };
  if (agent.caCertPem) options['caCert'] = b64(agent.caCertPem);
  if (agent.mode) options['mode'] = agent.mode;
  return {
    apiVersion: `${API_GROUP}/${API_VERSION}`,
    kind: 'ClusterPair',
    metadata: { name, namespace },
    spec: { config: inlineKubeconfig(kc), options },
  };
}

/** Stork's `--mode async-dr|migration` as the ClusterPair option it sets. */
export function modeOption(mode: string): string {
  if (mode === 'async-dr' || mode === DISASTER_RECOVERY_MODE) return DISASTER_RECOVERY_MODE;
  if (mode === 'migration' || mode === '') return '';
  throw new Error(`--mode ${JSON.stringify(mode)}: expected async-dr or migration`);
}
