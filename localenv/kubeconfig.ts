import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';

/** Who a kubeconfig authenticates as: a bearer token, or a client certificate and its key (files). */
export type KubeconfigUser = { token: string } | { certPath: string; keyPath: string };

export interface KubeconfigOptions {
  /** Name of the cluster, the user (with `-<user>`) and the one context. */
  name: string;
  /** https://127.0.0.1:PORT */
  server: string;
  caCertPem: string;
  /** Default: the admin token. */
  token?: string;
  user?: KubeconfigUser;
  userName?: string;
}

/** Writes a one-context kubeconfig (mode 0600), as kubectl and every component read it. */
export async function writeKubeconfig(file: string, opts: KubeconfigOptions): Promise<void> {
  const user = opts.user ?? { token: opts.token ?? '' };
  const userName = `${opts.name}-${opts.userName ?? 'admin'}`;
  await writeFile(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: opts.name,
          cluster: {
            server: opts.server,
            'certificate-authority-data': Buffer.from(opts.caCertPem).toString('base64'),
          },
        },
      ],
      users: [
        {
          name: userName,
          user:
            'token' in user
              ? { token: user.token }
              : { 'client-certificate': user.certPath, 'client-key': user.keyPath },
        },
      ],
      contexts: [{ name: opts.name, context: { cluster: opts.name, user: userName } }],
      'current-context': opts.name,
      preferences: {},
    }),
    { mode: 0o600 },
  );
}
