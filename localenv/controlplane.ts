import https from 'node:https';
import path from 'node:path';
import { writeKubeconfig } from './kubeconfig.js';
import type { LocalCluster } from './kube.js';
import { freePorts } from './ports.js';
import { startProcess, waitUntil, type ManagedProcess } from './process.js';
import { issueCertificate } from './tls.js';

/**
 * A local cluster's control plane beyond the apiserver: kube-controller-manager (every default
 * controller, each with its own service account's credentials: PV binding, namespace finalization,
 * garbage collection, Deployments/ReplicaSets, service account tokens, node lifecycle, ...) and
 * kube-scheduler. Both authenticate with client certificates of the cluster's CA under their
 * well-known names, which the bootstrap RBAC policy already grants, and serve /healthz on loopback.
 *
 *   const cp = await startControlPlane({ cluster, dir, controllerManagerBin, schedulerBin, serviceAccountKeyPath });
 *   ... pods get ReplicaSets, PVCs bind ...
 *   await cp.stop();
 */
export interface ControlPlane {
  controllerManager: ManagedProcess;
  scheduler: ManagedProcess;
  stop(): Promise<void>;
}

export interface ControlPlaneOptions {
  /** The running etcd + apiserver pair (its CA, server and pki dir are used). */
  cluster: Pick<LocalCluster, 'name' | 'server' | 'caCertPem' | 'ca' | 'pkiDir'>;
  /** The cluster's directory: logs and kubeconfigs go here. */
  dir: string;
  controllerManagerBin: string;
  schedulerBin: string;
  /** The private key whose public half the apiserver verifies service account tokens with. */
  serviceAccountKeyPath: string;
  pidFile?: string;
}

/** GET https://127.0.0.1:port/healthz of a component with a self-signed serving certificate. */
async function healthz(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(
      // Loopback only, and a self-signed certificate the component made itself at start.
      { host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

async function componentKubeconfig(
  opts: ControlPlaneOptions,
  component: 'kube-controller-manager' | 'kube-scheduler',
): Promise<string> {
  const { cluster } = opts;
  // The bootstrap RBAC policy knows these components as users system:kube-controller-manager and
  // system:kube-scheduler.
  const cert = await issueCertificate(cluster.ca, cluster.pkiDir, component, {
    commonName: `system:${component}`,
    sans: [],
    usages: ['clientAuth'],
  });
  const file = path.join(cluster.pkiDir, `${component}.kubeconfig`);
  await writeKubeconfig(file, {
    name: `ferry-${cluster.name}`,
    server: cluster.server,
    caCertPem: cluster.caCertPem,
    user: { certPath: cert.certPath, keyPath: cert.keyPath },
    userName: component,
  });
  return file;
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const { cluster, dir } = opts;
  const [cmPort, schedPort] = (await freePorts(2)) as [number, number];
  const [cmKubeconfig, schedKubeconfig] = await Promise.all([
    componentKubeconfig(opts, 'kube-controller-manager'),
    componentKubeconfig(opts, 'kube-scheduler'),
  ]);

  const controllerManager = startProcess({
    name: `kube-controller-manager(${cluster.name})`,
    command: opts.controllerManagerBin,
    args: [
      `--kubeconfig=${cmKubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${cmPort}`,
      `--cert-dir=${path.join(dir, 'controller-manager')}`,
      '--leader-elect=false',
      '--controllers=*',
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${opts.serviceAccountKeyPath}`,
      `--root-ca-file=${cluster.ca.certPath}`,
      `--cluster-signing-cert-file=${cluster.ca.certPath}`,
      `--cluster-signing-key-file=${cluster.ca.keyPath}`,
      `--cluster-name=ferry-${cluster.name}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      // Each node's pod subnet is chosen by node.ts, not allocated here.
      '--allocate-node-cidrs=false',
      '--profiling=false',
    ],
    logPath: path.join(dir, 'kube-controller-manager.log'),
    pidFile: opts.pidFile,
  });
  const scheduler = startProcess({
    name: `kube-scheduler(${cluster.name})`,
    command: opts.schedulerBin,
    args: [
      `--kubeconfig=${schedKubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedPort}`,
      `--cert-dir=${path.join(dir, 'scheduler')}`,
      '--leader-elect=false',
      '--profiling=false',
    ],
    logPath: path.join(dir, 'kube-scheduler.log'),
    pidFile: opts.pidFile,
  });
  const stop = async (): Promise<void> => {
    await Promise.all([scheduler.stop(), controllerManager.stop()]);
  };
  try {
    await Promise.all([
      waitUntil(controllerManager, `healthy on 127.0.0.1:${cmPort}`, () => healthz(cmPort), 60_000),
      waitUntil(scheduler, `healthy on 127.0.0.1:${schedPort}`, () => healthz(schedPort), 60_000),
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { controllerManager, scheduler, stop };
}
