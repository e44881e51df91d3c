import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { importImage, type LocalImage } from './images.js';
import type { LocalCluster } from './kube.js';
import { writeKubeconfig } from './kubeconfig.js';
import { freePorts } from './ports.js';
import { startProcess, tailLog, waitUntil, type ManagedProcess } from './process.js';
import { startContainerd } from './containerd.js';
import {
  checkNodePrerequisites,
  claimBridge,
  cleanupScriptText,
  createCgroup,
  saveKernelTunables,
} from './nodehost.js';
import { cleanupFile } from './reaper.js';
import { issueCertificate } from './tls.js';

const run = promisify(execFile);

/**
 * One node of a local cluster: a kubelet on its own containerd (containerd.ts), with Debian's
 * runc and CNI plugins. Pods get addresses on a bridge made for the node (ferry<hash of its dir>,
 * a free 10.244.N.0/24, no route anywhere else); the node's InternalIP is the bridge's
 * 10.244.N.1, where the kubelet serves HTTPS with a certificate of the cluster's CA. Its pods
 * live under the cgroup /ferry-<hash>/kubepods. Images come from local tarballs (images.ts), the
 * first also being the pause image; pods use `imagePullPolicy: Never`, since nothing can be
 * pulled. Everything a node leaves (containers, shims, mounts, network namespaces, cgroups, the
 * bridge) is removed by its generated cleanup.sh (nodehost.ts), which stop() runs and which the
 * reaper runs if the owner dies first.
 *
 *   const node = await startNode({ cluster, dir, kubeletBin, images: [await busyboxImage()] });
 *   ... pods run on node.name ...
 *   await node.stop();
 */
export interface LocalNode {
  /** The Node object's name. */
  name: string;
  /** InternalIP: the bridge's address, where the kubelet listens. */
  ip: string;
  kubeletPort: number;
  /** The pods' subnet on `bridge`. */
  podSubnet: string;
  bridge: string;
  containerdSocket: string;
  /** Cgroup parent of every container of this node, in every hierarchy. */
  cgroupRoot: string;
  /** Images imported into the node's containerd. */
  images: string[];
  containerd: ManagedProcess;
  kubelet: ManagedProcess;
  /** Removes containers, shims, mounts, cgroups and the bridge; safe to run more than once. */
  cleanupScript: string;
  stop(): Promise<void>;
}

export interface NodeOptions {
  cluster: Pick<LocalCluster, 'name' | 'server' | 'caCertPem' | 'ca' | 'pkiDir' | 'token'>;
  /** The node's directory: containerd's root, the kubelet's root, pod logs, configs and logs. */
  dir: string;
  kubeletBin: string;
  /** Imported before the kubelet starts; the first one is also the pause (sandbox) image. */
  images: LocalImage[];
  pidFile?: string;
  /** How long to wait for the node to be Ready (default 120 s). */
  readyTimeoutMs?: number;
}

async function getNode(
  cluster: NodeOptions['cluster'],
  name: string,
): Promise<{ status?: { conditions?: Array<{ type: string; status: string }> } } | undefined> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      `${cluster.server}/api/v1/nodes/${name}`,
      { ca: cluster.caCertPem, headers: { authorization: `Bearer ${cluster.token}` }, timeout: 2000 },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(res.statusCode === 200 ? JSON.parse(body) : undefined));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

export async function startNode(opts: NodeOptions): Promise<LocalNode> {
  const { cniBinDir } = await checkNodePrerequisites();
  const { cluster } = opts;
  const dir = path.resolve(opts.dir);
  const name = `${cluster.name}-node`;
  // Sockets have a 108-byte path limit, so they live under a short per-node run dir.
  const id = createHash('sha256').update(dir).digest('hex').slice(0, 12);
  const runDir = `/run/ferry/${id}`;
  const socket = path.join(runDir, 'containerd.sock');
  const cgroupRoot = `/ferry-${id}`;
  // The kubelet's root holds sockets too (device-plugins/kubelet.sock, pod-resources/...).
  const kubeletRoot = dir.length > 60 ? path.join(runDir, 'kubelet') : path.join(dir, 'kubelet');
  const containerdRoot = path.join(dir, 'containerd');
  await mkdir(dir, { recursive: true });
  await mkdir(runDir, { recursive: true });

  const bridge = `ferry${id.slice(0, 10)}`; // at most 15 characters, as Linux wants
  const cleanupScript = path.join(dir, 'cleanup.sh');
  const sysctlFile = path.join(dir, 'sysctl-before-kubelet');
  await writeFile(
    cleanupScript,
    cleanupScriptText({
      name,
      socket,
      cgroupRoot,
      bridge,
      runDir,
      mountRoots: [kubeletRoot, containerdRoot, runDir],
      sysctlFile,
    }),
    { mode: 0o755 },
  );
  // If this process dies before stop(), the reaper runs the cleanup after killing the servers.
  if (opts.pidFile) await appendFile(cleanupFile(opts.pidFile), `${cleanupScript}\n`);
  const cleanup = async (): Promise<void> => {
    await run('bash', [cleanupScript]).catch(() => {});
  };

  let containerd: ManagedProcess | undefined;
  let kubelet: ManagedProcess | undefined;
  let kubeletPort = 0;
  const stop = async (): Promise<void> => {
    await kubelet?.stop();
    await containerd?.stop();
    await cleanup();
  };
  let ip = '';
  let podSubnet = '';
  try {
    const { index } = await claimBridge(bridge);
    ip = `10.244.${index}.1`;
    podSubnet = `10.244.${index}.0/24`;
    const pause = opts.images[0];
    if (!pause) throw new Error('startNode needs at least one image (the pause image)');
    containerd = await startContainerd({
      name,
      dir,
      root: containerdRoot,
      runDir,
      socket,
      bridge,
      ip,
      podSubnet,
      cniBinDir,
      sandboxImage: pause.name,
      pidFile: opts.pidFile,
    });
    for (const image of opts.images) await importImage(socket, image);

    // The kubelet: client certificate as system:node:<name> (the Node authorizer's user), serving
    // certificate for its IP, which the apiserver verifies (--kubelet-certificate-authority).
    const pki = path.join(dir, 'pki');
    const client = await issueCertificate(cluster.ca, pki, 'kubelet-client', {
      commonName: `system:node:${name}`,
      organization: 'system:nodes',
      sans: [],
      usages: ['clientAuth'],
    });
    const serving = await issueCertificate(cluster.ca, pki, 'kubelet-serving', {
      commonName: name,
      sans: [ip, name],
      usages: ['serverAuth'],
    });
    const kubeconfig = path.join(dir, 'kubelet.kubeconfig');
    await writeKubeconfig(kubeconfig, {
      name: `ferry-${cluster.name}`,
      server: cluster.server,
      caCertPem: cluster.caCertPem,
      user: { certPath: client.certPath, keyPath: client.keyPath },
      userName: name,
    });
    const [port, healthzPort] = (await freePorts(2)) as [number, number];
    kubeletPort = port;
    // The kubelet wants its cgroup root to exist in every hierarchy already.
    await createCgroup(cgroupRoot);
    await saveKernelTunables(sysctlFile);
    const kubeletConfig = path.join(dir, 'kubelet.yaml');
    await writeFile(
      kubeletConfig,
      stringify({
        apiVersion: 'kubelet.config.k8s.io/v1beta1',
        kind: 'KubeletConfiguration',
        address: ip,
        port,
        readOnlyPort: 0,
        healthzBindAddress: '127.0.0.1',
        healthzPort,
        tlsCertFile: serving.certPath,
        tlsPrivateKeyFile: serving.keyPath,
        rotateCertificates: false,
        serverTLSBootstrap: false,
        authentication: {
          anonymous: { enabled: false },
          webhook: { enabled: false },
          x509: { clientCAFile: cluster.ca.certPath },
        },
        authorization: { mode: 'Webhook' },
        containerRuntimeEndpoint: `unix://${socket}`,
        imageServiceEndpoint: `unix://${socket}`,
        // What this machine allows (checked on it): cgroup v1 with cgroupfs, no node-allocatable
        // enforcement, swap tolerated, no negative oom_score_adj.
        failCgroupV1: false,
        cgroupDriver: 'cgroupfs',
        // Pods go under <cgroupRoot>/kubepods/<qos>/pod<uid>: each node keeps its own cgroup parent.
        // (With cgroupsPerQOS: false the kubelet passes no parent, and containerd puts every
        // node's containers under one shared /k8s.io.)
        cgroupsPerQOS: true,
        cgroupRoot,
        enforceNodeAllocatable: [],
        failSwapOn: false,
        oomScoreAdj: 0,
        podLogsDir: path.join(dir, 'pod-logs'),
        volumePluginDir: path.join(kubeletRoot, 'volume-plugins'),
        // Pods get no nameserver: nothing outside this machine is theirs to resolve.
        resolvConf: '',
        hairpinMode: 'none',
        registerNode: true,
        serializeImagePulls: false,
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        evictionHard: {
          'memory.available': '100Mi',
          'nodefs.available': '1%',
          'imagefs.available': '1%',
          'nodefs.inodesFree': '1%',
        },
        nodeStatusReportFrequency: '10s',
        syncFrequency: '10s',
        fileCheckFrequency: '10s',
        shutdownGracePeriod: '0s',
        logging: { verbosity: 0 },
      }),
    );
    kubelet = startProcess({
      name: `kubelet(${name})`,
      command: opts.kubeletBin,
      args: [
        `--config=${kubeletConfig}`,
        `--kubeconfig=${kubeconfig}`,
        `--root-dir=${kubeletRoot}`,
        `--cert-dir=${pki}`,
        `--hostname-override=${name}`,
        `--node-ip=${ip}`,
      ],
      logPath: path.join(dir, 'kubelet.log'),
      pidFile: opts.pidFile,
    });
    await waitUntil(
      kubelet,
      `Ready as node ${name}`,
      async () =>
        (await getNode(cluster, name))?.status?.conditions?.some(
          (c) => c.type === 'Ready' && c.status === 'True',
        ) ?? false,
      opts.readyTimeoutMs ?? 120_000,
    );
  } catch (err) {
    const where =
      containerd && !containerd.running() ? `\ncontainerd log:\n${tailLog(containerd.logPath)}` : '';
    await stop();
    throw where ? new Error(`${(err as Error).message}${where}`) : err;
  }
  if (!containerd || !kubelet) throw new Error('unreachable: node started without its processes');
  return {
    name,
    ip,
    kubeletPort,
    podSubnet,
    bridge,
    containerdSocket: socket,
    cgroupRoot,
    images: opts.images.map((i) => i.name),
    containerd,
    kubelet,
    cleanupScript,
    stop,
  };
}
