import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { harness } from '../harness/context.js';
import { eventually } from '../harness/eventually.js';

// Each harness cluster's node (containerd + kubelet): it registers Ready, and runs a pod from the
// local busybox image that writes to a hostPath volume, gets an IP on the node's bridge, and
// answers `kubectl logs` and `kubectl exec` through the apiserver.

const run = promisify(execFile);

// The harness starts nodes unless FERRY_TEST_NODES=0 (test/harness/global-setup.js).
const describeNodes = process.env.FERRY_TEST_NODES === '0' ? describe.skip : describe;

describeNodes.each(['source', 'destination'])('node of cluster %s', (cluster) => {
  const ns = `node-${cluster}-${Date.now()}`;
  let core: CoreV1Api;

  const kubectl = async (...args: string[]): Promise<string> => {
    const { env } = harness();
    const { stdout } = await run(
      env.bins.kubectl!,
      ['--kubeconfig', env.clusters[cluster]!.kubeconfigPath, '-n', ns, ...args],
      { timeout: 30_000 },
    );
    return stdout;
  };

  beforeAll(async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(harness().env.clusters[cluster]!.kubeconfigPath);
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await eventually('default service account', async () =>
      (await core.readNamespacedServiceAccount({ name: 'default', namespace: ns })).metadata?.uid
        ? true
        : undefined,
    );
  });

  it('is registered and Ready, at its bridge address', async () => {
    const node = harness().env.clusters[cluster]!.node!;
    expect(node).toBeDefined();
    const obj = await core.readNode({ name: node.name });
    expect(obj.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(obj.status?.addresses).toContainEqual({ type: 'InternalIP', address: node.ip });
  });

  it('runs a pod from a local image: hostPath volume, pod IP, logs, exec', async () => {
    const { env } = harness();
    const node = env.clusters[cluster]!.node!;
    const hostDir = path.join(env.dir, 'volumes', `pod-${ns}`);
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'writer' },
        spec: {
          containers: [
            {
              name: 'main',
              image: env.images!.busybox,
              imagePullPolicy: 'Never',
              command: [
                'sh',
                '-c',
                'echo "hello from $(hostname)"; echo written > /data/out.txt; exec sleep 3600',
              ],
              volumeMounts: [{ name: 'data', mountPath: '/data' }],
            },
          ],
          volumes: [{ name: 'data', hostPath: { path: hostDir, type: 'DirectoryOrCreate' } }],
          terminationGracePeriodSeconds: 1,
        },
      },
    });
    const pod = await eventually('pod Running', async () => {
      const p = await core.readNamespacedPod({ name: 'writer', namespace: ns });
      return p.status?.phase === 'Running' ? p : undefined;
    });
    expect(pod.spec?.nodeName).toBe(node.name);
    expect(pod.status?.podIP?.startsWith(node.podSubnet.replace(/0\/24$/, ''))).toBe(true);
    await eventually('hostPath file', async () =>
      (await readFile(path.join(hostDir, 'out.txt'), 'utf8')) === 'written\n' ? true : undefined,
    );
    expect(
      await eventually('logs', async () =>
        (await kubectl('logs', 'writer')).includes('hello from writer') ? true : undefined,
      ),
    ).toBe(true);
    expect(await kubectl('exec', 'writer', '--', 'cat', '/data/out.txt')).toBe('written\n');
  });

  it('never pulls an image: a registry request goes to a dead loopback proxy, not out', async () => {
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'no-pull' },
        spec: {
          containers: [
            {
              name: 'main',
              image: 'docker.io/library/ferry-never-pulled:1',
              imagePullPolicy: 'IfNotPresent',
            },
          ],
        },
      },
    });
    const message = await eventually('ErrImagePull', async () => {
      const p = await core.readNamespacedPod({ name: 'no-pull', namespace: ns });
      const waiting = p.status?.containerStatuses?.[0]?.state?.waiting;
      // (ImagePullBackOff, between two tries, has no message worth checking.)
      return waiting?.reason === 'ErrImagePull' ? (waiting.message ?? '') : undefined;
    });
    expect(message).toContain('proxyconnect tcp: dial tcp 127.0.0.1:9');
  });

  afterAll(async () => {
    await core?.deleteNamespace({ name: ns, gracePeriodSeconds: 0 }).catch(() => {});
  });
});
