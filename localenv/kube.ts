import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePorts } from './ports.js';
import { startProcess, waitUntil, type ManagedProcess } from './process.js';
import { startControlPlane, type ControlPlane } from './controlplane.js';
import { writeKubeconfig } from './kubeconfig.js';
import { startNode, type LocalNode, type NodeOptions } from './node.js';
import { createCertAuthority, issueCertificate, type CertAuthority } from './tls.js';

const run = promisify(execFile);

/**
 * One simulated Kubernetes cluster: a real etcd and a real kube-apiserver on loopback, TLS with a
 * private CA, static bearer-token auth (the token's user is in system:masters), Node and RBAC
 * authorization. Optionally its control plane (kube-controller-manager, kube-scheduler; see
 * controlplane.ts) and one node (containerd + kubelet; see node.ts). Without the control plane
 * nothing binds, finalizes, collects garbage or runs pods; without a node pods stay Pending.
 */
export interface LocalCluster {
  name: string;
  /** https://127.0.0.1:PORT */
  server: string;
  kubeconfigPath: string;
  token: string;
  caCertPem: string;
  /** The cluster's private CA (signs serving and client certificates, and CSRs). */
  ca: CertAuthority;
  /** Where certificates, keys and component kubeconfigs live. */
  pkiDir: string;
  etcd: ManagedProcess;
  /** The running kube-apiserver (replaced by startApiserver after a stopApiserver). */
  apiserver: ManagedProcess;
  /** Stops the API server alone (a lost cluster, for drills): etcd and the node stay up. */
  stopApiserver(): Promise<void>;
  /** Starts it again with the same flags, port and data; resolves once it is ready. */
  startApiserver(): Promise<void>;
  controlPlane?: ControlPlane;
  node?: LocalNode;
}

export interface LocalClusterOptions {
  name: string;
  dir: string;
  etcdBin: string;
  apiserverBin: string;
  /** Start kube-controller-manager and kube-scheduler too. */
  controlPlane?: { controllerManagerBin: string; schedulerBin: string };
  /** Start one node (containerd + kubelet); needs `controlPlane` to be useful. */
  node?: Omit<NodeOptions, 'cluster' | 'dir' | 'pidFile'>;
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
  // The apiserver's client certificate for kubelets (exec, logs, port-forward): system:masters.
  const kubeletClient = await issueCertificate(ca, pki, 'apiserver-kubelet-client', {
    organization: 'system:masters',
    sans: [],
    usages: ['clientAuth'],
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
  const launchApiserver = () =>
    startProcess({
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
        // Node: kubelets (system:node:<name> in system:nodes) get exactly what their pods need.
        '--authorization-mode=Node,RBAC',
        '--enable-admission-plugins=NodeRestriction',
        `--kubelet-client-certificate=${kubeletClient.certPath}`,
        `--kubelet-client-key=${kubeletClient.keyPath}`,
        // Kubelets serve with a certificate of this cluster's CA for their node IP (node.ts).
        `--kubelet-certificate-authority=${ca.certPath}`,
        '--kubelet-preferred-address-types=InternalIP',
        '--service-account-issuer=https://kubernetes.default.svc',
        `--service-account-key-file=${saPub}`,
        `--service-account-signing-key-file=${saKey}`,
        '--service-cluster-ip-range=10.96.0.0/16',
        '--allow-privileged=true',
        // Without a controller-manager no "default" service account ever appears, and ServiceAccount
        // admission would then refuse every pod; with one, pods get their token volume as usual.
        ...(opts.controlPlane ? [] : ['--disable-admission-plugins=ServiceAccount']),
        '--enable-priority-and-fairness=false',
        '--endpoint-reconciler-type=none',
        '--profiling=false',
        `--cert-dir=${pki}`,
      ],
      logPath: path.join(dir, 'kube-apiserver.log'),
      pidFile: opts.pidFile,
    });
  const apiserverReady = (p: ManagedProcess) =>
    waitUntil(
      p,
      `ready at ${server}`,
      async () => (await get(server, ca.certPem, token, '/readyz')) === 200,
      90_000,
    );
  const apiserver = launchApiserver();
  await apiserverReady(apiserver);

  const kubeconfigPath = path.join(dir, 'kubeconfig');
  await writeKubeconfig(kubeconfigPath, { name: `ferry-${opts.name}`, server, caCertPem: ca.certPem, token });
  const cluster: LocalCluster = {
    name: opts.name,
    server,
    kubeconfigPath,
    token,
    caCertPem: ca.certPem,
    ca,
    pkiDir: pki,
    etcd,
    apiserver,
    stopApiserver: () => cluster.apiserver.stop(),
    startApiserver: async () => {
      if (cluster.apiserver.running()) return;
      cluster.apiserver = launchApiserver();
      await apiserverReady(cluster.apiserver);
    },
  };
  try {
    if (opts.controlPlane) {
      cluster.controlPlane = await startControlPlane({
        ...opts.controlPlane,
        cluster,
        dir,
        serviceAccountKeyPath: saKey,
        pidFile: opts.pidFile,
      });
    }
    if (opts.node) {
      cluster.node = await startNode({
        ...opts.node,
        cluster,
        dir: path.join(dir, 'node'),
        pidFile: opts.pidFile,
      });
    }
  } catch (err) {
    await stopLocalCluster(cluster);
    throw err;
  }
  return cluster;
}

export async function stopLocalCluster(cluster: LocalCluster): Promise<void> {
  await cluster.node?.stop();
  await cluster.controlPlane?.stop();
  await cluster.apiserver.stop();
  await cluster.etcd.stop();
}
