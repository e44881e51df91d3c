import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { freePorts } from './ports.js';
import { startProcess, waitUntil, type ManagedProcess } from './process.js';
import { createCertAuthority, issueCertificate } from './tls.js';

const run = promisify(execFile);

/**
 * One simulated Kubernetes cluster: a real etcd and a real kube-apiserver on loopback, TLS with a
 * private CA, static bearer-token auth (the token's user is in system:masters) and RBAC. Nothing
 * runs pods: there is no kubelet, scheduler or controller-manager.
 */
export interface LocalCluster {
  name: string;
  /** https://127.0.0.1:PORT */
  server: string;
  kubeconfigPath: string;
  token: string;
  caCertPem: string;
  etcd: ManagedProcess;
  apiserver: ManagedProcess;
}

export interface LocalClusterOptions {
  name: string;
  dir: string;
  etcdBin: string;
  apiserverBin: string;
  pidFile?: string;
}

async function get(server: string, ca: string, token: string, urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      `${server}${urlPath}`,
      { ca, headers: { authorization: `Bearer ${token}` }, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

export async function startLocalCluster(opts: LocalClusterOptions): Promise<LocalCluster> {
  const dir = opts.dir;
  const pki = path.join(dir, 'pki');
  await mkdir(pki, { recursive: true });
  const [etcdClient, etcdPeer, apiPort] = await freePorts(3);

  const ca = await createCertAuthority(pki, `ferry-${opts.name}-ca`);
  const serving = await issueCertificate(ca, pki, 'apiserver', {
    sans: ['127.0.0.1', 'localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
    usages: ['serverAuth'],
  });
  const saKey = path.join(pki, 'sa.key');
  const saPub = path.join(pki, 'sa.pub');
  await run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', saKey]);
  await run('openssl', ['ec', '-in', saKey, '-pubout', '-out', saPub]);
  const token = randomBytes(24).toString('hex');
  const tokenFile = path.join(pki, 'tokens.csv');
  await writeFile(tokenFile, `${token},ferry-admin,ferry-admin,"system:masters"\n`, { mode: 0o600 });

  const etcd = startProcess({
    name: `etcd(${opts.name})`,
    command: opts.etcdBin,
    args: [
      '--name',
      opts.name,
      '--data-dir',
      path.join(dir, 'etcd'),
      '--listen-client-urls',
      `http://127.0.0.1:${etcdClient}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${etcdClient}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${etcdPeer}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${etcdPeer}`,
      '--initial-cluster',
      `${opts.name}=http://127.0.0.1:${etcdPeer}`,
      // Test data: durability across power loss is not wanted, speed is.
      '--unsafe-no-fsync',
      '--log-level',
      'warn',
    ],
    logPath: path.join(dir, 'etcd.log'),
    pidFile: opts.pidFile,
  });
  await waitUntil(
    etcd,
    `healthy on 127.0.0.1:${etcdClient}`,
    async () => {
      const res = await fetch(`http://127.0.0.1:${etcdClient}/health`);
      return res.ok && ((await res.json()) as { health?: string }).health === 'true';
    },
    30_000,
  );

  const server = `https://127.0.0.1:${apiPort}`;
  const apiserver = startProcess({
    name: `kube-apiserver(${opts.name})`,
    command: opts.apiserverBin,
    args: [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${serving.certPath}`,
      `--tls-private-key-file=${serving.keyPath}`,
      `--client-ca-file=${ca.certPath}`,
      `--token-auth-file=${tokenFile}`,
      '--anonymous-auth=false',
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${saPub}`,
      `--service-account-signing-key-file=${saKey}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--allow-privileged=true',
      // Nothing runs pods here, so admission that waits for a controller-manager only gets in the way.
      '--disable-admission-plugins=ServiceAccount',
      '--enable-priority-and-fairness=false',
      '--endpoint-reconciler-type=none',
      '--profiling=false',
      `--cert-dir=${pki}`,
    ],
    logPath: path.join(dir, 'kube-apiserver.log'),
    pidFile: opts.pidFile,
  });
  await waitUntil(
    apiserver,
    `ready at ${server}`,
    async () => (await get(server, ca.certPem, token, '/readyz')) === 200,
    90_000,
  );

  const kubeconfigPath = path.join(dir, 'kubeconfig');
  const context = `ferry-${opts.name}`;
  await writeFile(
    kubeconfigPath,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: context,
          cluster: { server, 'certificate-authority-data': Buffer.from(ca.certPem).toString('base64') },
        },
      ],
      users: [{ name: `${context}-admin`, user: { token } }],
      contexts: [{ name: context, context: { cluster: context, user: `${context}-admin` } }],
      'current-context': context,
      preferences: {},
    }),
    { mode: 0o600 },
  );
  return { name: opts.name, server, kubeconfigPath, token, caCertPem: ca.certPem, etcd, apiserver };
}

export async function stopLocalCluster(cluster: LocalCluster): Promise<void> {
  await cluster.apiserver.stop();
  await cluster.etcd.stop();
}
