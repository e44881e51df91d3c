import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { importImage, type LocalImage } from './images.js';
import type { LocalCluster } from './kube.js';
import { writeKubeconfig } from './kubeconfig.js';
import { freePorts } from './ports.js';
import { startProcess, tailLog, waitUntil, type ManagedProcess } from './process.js';
import { cleanupFile } from './reaper.js';
import { issueCertificate } from './tls.js';

const run = promisify(execFile);

/**
 * One node of a local cluster: its own containerd (root, state, socket, runc root) and a kubelet,
 * on Debian's containerd, runc and CNI plugins. Pods get addresses on a bridge this module creates
 * (ferry<hash of its dir>, on a free 10.244.N.0/24, with no route anywhere else), the node's InternalIP is the bridge's
 * 10.244.N.1, where the kubelet serves with a certificate of the cluster's CA. Images come from
 * local tarballs (images.ts) and the pause image is the busybox image: pods use
 * `imagePullPolicy: Never` (containerd can pull from nowhere: its proxy is a dead loopback port).
 * Everything it leaves (containers, shims, mounts, network namespaces,
 * cgroups, the bridge) is removed by a generated cleanup.sh, which stop() runs and which the
 * reaper runs if the owner dies first.
 *
 *   const node = await startNode({ cluster, dir, kubeletBin, image });
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

const CNI_DIRS = ['/usr/lib/cni', '/opt/cni/bin'];

/** What a node needs from the machine, each with the package that brings it; throws naming every gap. */
export async function checkNodePrerequisites(): Promise<{ cniBinDir: string }> {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (containerd and the kubelet need it): run as root');
  const onPath = async (cmd: string): Promise<boolean> =>
    run('sh', ['-c', `command -v ${cmd}`]).then(
      () => true,
      () => false,
    );
  for (const [cmd, pkg] of [
    ['containerd', 'containerd'],
    ['ctr', 'containerd'],
    ['containerd-shim-runc-v2', 'containerd'],
    ['runc', 'runc'],
    ['ip', 'iproute2'],
    ['mount', 'mount'],
  ] as const) {
    if (!(await onPath(cmd))) missing.push(`${cmd} (apt-get install ${pkg})`);
  }
  const cniBinDir = CNI_DIRS.find((d) => existsSync(path.join(d, 'bridge'))) ?? CNI_DIRS[0]!;
  for (const plugin of ['bridge', 'host-local', 'loopback']) {
    if (!existsSync(path.join(cniBinDir, plugin))) {
      missing.push(
        `CNI plugin ${plugin} in ${CNI_DIRS.join(' or ')} (apt-get install containernetworking-plugins)`,
      );
    }
  }
  if (missing.length) {
    throw new Error(
      `local nodes need: ${missing.join('; ')}. bash .ci/run installs them on Debian ` +
        '(apt-get install containerd runc containernetworking-plugins busybox-static iproute2).',
    );
  }
  return { cniBinDir };
}

/**
 * Creates the node's bridge `name` (named after the node's directory, so a stale cleanup script
 * only ever deletes its own) on a free 10.244.N.0/24, with 10.244.N.1 on the bridge.
 */
async function claimBridge(name: string): Promise<{ bridge: string; index: number }> {
  await run('ip', ['link', 'del', name]).catch(() => {}); // a leftover of this same directory
  await run('ip', ['link', 'add', 'name', name, 'type', 'bridge']);
  for (let n = 1; n < 255; n++) {
    const { stdout: before } = await run('ip', ['-o', '-4', 'route', 'show', 'table', 'all']);
    if (before.includes(`10.244.${n}.`)) continue;
    await run('ip', ['addr', 'add', `10.244.${n}.1/24`, 'dev', name]);
    // Another node may have taken the same subnet at the same moment: then try the next one.
    const { stdout: after } = await run('ip', ['-o', '-4', 'addr', 'show']);
    const holders = after.split('\n').filter((l) => l.includes(` 10.244.${n}.1/24 `));
    if (holders.length > 1) {
      await run('ip', ['addr', 'del', `10.244.${n}.1/24`, 'dev', name]);
      continue;
    }
    await run('ip', ['link', 'set', name, 'up']);
    return { bridge: name, index: n };
  }
  await run('ip', ['link', 'del', name]).catch(() => {});
  throw new Error('no free 10.244.N.0/24 for a node bridge: every N in 1..254 is routed already');
}

function cleanupScriptText(p: {
  name: string;
  socket: string;
  cgroupRoot: string;
  bridge: string;
  runDir: string;
  mountRoots: string[];
}): string {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  return `#!/usr/bin/env bash
# Generated by Ferry's localenv/node.ts for node ${p.name}: removes what its containerd and kubelet
# leave behind once both are stopped. Safe to run more than once.
sock=${q(p.socket)}
cg=${q(p.cgroupRoot.replace(/^\//, ''))}
bridge=${q(p.bridge)}
rundir=${q(p.runDir)}
roots=(${p.mountRoots.map(q).join(' ')})
shopt -s nullglob
for round in 1 2 3; do
  # Every process of every container of this node: they live in the node's cgroup parent.
  pids=$(find /sys/fs/cgroup/"$cg" /sys/fs/cgroup/*/"$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
  # The containerd shims of this node's containerd, known by its socket.
  for d in /proc/[0-9]*; do
    c=$(tr '\\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
    [[ $c == *containerd-shim* && $c == *" -address $sock "* ]] && pids+=" \${d#/proc/}"
  done
  [[ -z \${pids// /} ]] && break
  kill -9 $pids 2>/dev/null
  sleep 0.2
done
# Mounts: pod volumes (tmpfs), container root filesystems, network namespaces; deepest first.
for root in "\${roots[@]}"; do
  awk -v r="$root" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo
done | sort -r -u | while read -r m; do umount -l "$m" 2>/dev/null; done
for c in /sys/fs/cgroup/"$cg" /sys/fs/cgroup/*/"$cg"; do find "$c" -depth -type d -exec rmdir {} \\; 2>/dev/null; done
ip link del "$bridge" 2>/dev/null
rm -rf "$rundir"
exit 0
`;
}

/** containerd's environment: this process's, with every proxy variable set to a dead loopback port. */
export function noPullEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/_proxy$/i.test(k)) env[k] = v;
  const dead = 'http://127.0.0.1:9';
  return {
    ...env,
    HTTP_PROXY: dead,
    HTTPS_PROXY: dead,
    http_proxy: dead,
    https_proxy: dead,
    NO_PROXY: '',
    no_proxy: '',
  };
}

/** Creates cgroup `name` in every mounted hierarchy (cgroup v1, hybrid or v2). */
async function createCgroup(name: string): Promise<void> {
  const base = '/sys/fs/cgroup';
  const roots = existsSync(path.join(base, 'cgroup.controllers'))
    ? [base]
    : (await readdir(base, { withFileTypes: true }))
        .filter((d) => d.isDirectory() && existsSync(path.join(base, d.name, 'cgroup.procs')))
        .map((d) => path.join(base, d.name));
  for (const root of roots) await mkdir(path.join(root, name), { recursive: true });
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
  await writeFile(
    cleanupScript,
    cleanupScriptText({
      name,
      socket,
      cgroupRoot,
      bridge,
      runDir,
      mountRoots: [kubeletRoot, containerdRoot, runDir],
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
    // containerd: one per node, nothing shared with another containerd on this machine.
    const cniConfDir = path.join(dir, 'cni');
    await mkdir(cniConfDir, { recursive: true });
    await writeFile(
      path.join(cniConfDir, '10-ferry.conflist'),
      JSON.stringify(
        {
          cniVersion: '1.0.0',
          name: `ferry-${id}`,
          plugins: [
            {
              type: 'bridge',
              bridge,
              // The bridge and its address exist already (claimBridge); pods get no default route,
              // so they reach this machine's bridge subnet and nothing beyond it.
              isGateway: false,
              ipMasq: false,
              hairpinMode: true,
              ipam: {
                type: 'host-local',
                ranges: [[{ subnet: podSubnet, gateway: ip }]],
                dataDir: path.join(runDir, 'cni-ipam'),
              },
            },
          ],
        },
        null,
        2,
      ),
    );
    const containerdConfig = path.join(dir, 'containerd.toml');
    const pause = opts.images[0];
    if (!pause) throw new Error('startNode needs at least one image (the pause image)');
    await writeFile(
      containerdConfig,
      `version = 2
root = ${JSON.stringify(containerdRoot)}
state = ${JSON.stringify(path.join(runDir, 'containerd'))}
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = ${JSON.stringify(socket)}

[ttrpc]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = ${JSON.stringify(path.join(containerdRoot, 'opt'))}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${JSON.stringify(pause.name)}
  # This machine refuses negative oom_score_adj values, even for root.
  restrict_oom_score_adj = true
  # Network namespaces under this node's state dir, so cleanup finds them.
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "runc"
        Root = ${JSON.stringify(path.join(runDir, 'runc'))}
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${JSON.stringify(cniBinDir)}
    conf_dir = ${JSON.stringify(cniConfDir)}
    max_conf_num = 1
`,
    );
    containerd = startProcess({
      name: `containerd(${name})`,
      command: 'containerd',
      args: ['--config', containerdConfig, '--log-level', 'warn'],
      // No image is ever pulled: every registry request goes to a proxy on a loopback port where
      // nothing listens, so a pod with a missing image fails at once (ErrImagePull) without a
      // single packet, not even a DNS query, leaving this machine.
      env: noPullEnv(),
      logPath: path.join(dir, 'containerd.log'),
      pidFile: opts.pidFile,
    });
    await waitUntil(
      containerd,
      `serving on ${socket}`,
      async () => {
        await run('ctr', ['--address', socket, 'version'], { timeout: 5000 });
        return true;
      },
      30_000,
    );
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
