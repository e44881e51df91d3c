import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { startProcess, waitUntil, type ManagedProcess } from './process.js';

const run = promisify(execFile);

/**
 * A node's own containerd (node.ts): root, state, socket and runc root of its own, the CRI plugin
 * with the native snapshotter and runc, CNI on the node's bridge, and no way to pull an image.
 *
 *   const containerd = await startContainerd({ name, dir, root, runDir, socket, bridge, ip, podSubnet, ... });
 *   await importImage(socket, image);
 */
export interface ContainerdOptions {
  /** The node's name, for logs. */
  name: string;
  /** Where config files and the log go. */
  dir: string;
  /** containerd's root (content store, snapshots). */
  root: string;
  /** Short per-node directory for state, sockets, runc's root and CNI's IP allocations. */
  runDir: string;
  /** The gRPC socket, under runDir. */
  socket: string;
  /** The node's bridge, its address (the pods' gateway) and the pods' subnet. */
  bridge: string;
  ip: string;
  podSubnet: string;
  cniBinDir: string;
  /** The pause image, already imported before any pod starts. */
  sandboxImage: string;
  pidFile?: string;
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

/** Writes the node's CNI and containerd configuration, starts containerd and waits for its socket. */
export async function startContainerd(o: ContainerdOptions): Promise<ManagedProcess> {
  const cniConfDir = path.join(o.dir, 'cni');
  await mkdir(cniConfDir, { recursive: true });
  await writeFile(
    path.join(cniConfDir, '10-ferry.conflist'),
    JSON.stringify(
      {
        cniVersion: '1.0.0',
        name: `ferry-${path.basename(o.runDir)}`,
        plugins: [
          {
            type: 'bridge',
            bridge: o.bridge,
            // The bridge and its address exist already (claimBridge); pods get no default route,
            // so they reach this machine's bridge subnet and nothing beyond it.
            isGateway: false,
            ipMasq: false,
            hairpinMode: true,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: o.podSubnet, gateway: o.ip }]],
              dataDir: path.join(o.runDir, 'cni-ipam'),
            },
          },
        ],
      },
      null,
      2,
    ),
  );
  const containerdConfig = path.join(o.dir, 'containerd.toml');
  await writeFile(
    containerdConfig,
    `version = 2
root = ${JSON.stringify(o.root)}
state = ${JSON.stringify(path.join(o.runDir, 'containerd'))}
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = ${JSON.stringify(o.socket)}

[ttrpc]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = ${JSON.stringify(path.join(o.root, 'opt'))}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${JSON.stringify(o.sandboxImage)}
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
        Root = ${JSON.stringify(path.join(o.runDir, 'runc'))}
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${JSON.stringify(o.cniBinDir)}
    conf_dir = ${JSON.stringify(cniConfDir)}
    max_conf_num = 1
`,
  );
  const containerd = startProcess({
    name: `containerd(${o.name})`,
    command: 'containerd',
    args: ['--config', containerdConfig, '--log-level', 'warn'],
    // No image is ever pulled: every registry request goes to a proxy on a loopback port where
    // nothing listens, so a pod with a missing image fails at once (ErrImagePull) without a
    // single packet, not even a DNS query, leaving this machine.
    env: noPullEnv(),
    logPath: path.join(o.dir, 'containerd.log'),
    pidFile: o.pidFile,
  });
  try {
    await waitUntil(
      containerd,
      `serving on ${o.socket}`,
      async () => {
        await run('ctr', ['--address', o.socket, 'version'], { timeout: 5000 });
        return true;
      },
      30_000,
    );
  } catch (err) {
    await containerd.stop();
    throw err;
  }
  return containerd;
}
