// Starting `ferry worker` on loopback for `up`, tests and benchmarks: a ManagedProcess with a
// reaper, like the agents, ready once it prints its ready line.
//
//   const w = await startWorker({ dir, temporal: env.state.temporal, kubeconfigPath, agent });
//   await w.kill(); const w2 = await w.restart();   // same flags: a crash and a restart
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { defaultFerryBin } from './agents.js';
import { startProcess, waitForReadyLine } from './process.js';
import { ownerPidFile, startReaper } from './reaper.js';

export interface StartWorkerOptions {
  dir: string;
  name?: string;
  temporal: { address: string; namespace: string };
  taskQueue?: string;
  kubeconfigPath: string;
  agent: { url: string; tokenFile: string; caCertPath: string };
  /** A prebuilt workflow bundle; default: the worker bundles workflows/ at start. */
  workflowBundlePath?: string;
  args?: string[];
  /** Extra environment, e.g. FERRY_CODEC_KEYS_FILE to turn payload encryption on. */
  env?: Record<string, string>;
  ferryBin?: string;
  readyTimeoutMs?: number;
}

export interface WorkerHandle {
  name: string;
  pid: number;
  logPath: string;
  taskQueue: string;
  /** host:port of /metrics and /healthz. */
  http: string;
  exited: Promise<number | string>;
  stop(): Promise<void>;
  kill(): Promise<void>;
  restart(): Promise<WorkerHandle>;
}

const reaped = new Set<string>();

export async function startWorker(opts: StartWorkerOptions): Promise<WorkerHandle> {
  const dir = path.resolve(opts.dir);
  const name = opts.name ?? 'worker';
  await mkdir(dir, { recursive: true });
  const pidFile = ownerPidFile(dir);
  if (!reaped.has(dir)) {
    reaped.add(dir);
    startReaper(process.pid, pidFile);
  }
  const taskQueue = opts.taskQueue ?? 'ferry';
  const args = [
    opts.ferryBin ?? defaultFerryBin(),
    'worker',
    '--kubeconfig',
    opts.kubeconfigPath,
    '--agent-url',
    opts.agent.url,
    '--agent-token-file',
    opts.agent.tokenFile,
    '--agent-ca-file',
    opts.agent.caCertPath,
    '--temporal-address',
    opts.temporal.address,
    '--namespace',
    opts.temporal.namespace,
    '--task-queue',
    taskQueue,
    '--http-listen',
    '127.0.0.1:0',
    ...(opts.workflowBundlePath ? ['--workflow-bundle', opts.workflowBundlePath] : []),
    ...(opts.args ?? []),
  ];
  const proc = startProcess({
    name: `worker(${name})`,
    command: process.execPath,
    args,
    logPath: path.join(dir, `${name}.log`),
    env: { ...process.env, ...opts.env, KUBECONFIG: opts.kubeconfigPath },
    pidFile,
    pipeStdout: true,
  });
  const ready = await waitForReadyLine<{ ready: boolean; http: string }>(proc, opts.readyTimeoutMs ?? 60_000);
  return {
    name,
    pid: proc.pid,
    logPath: proc.logPath,
    taskQueue,
    http: ready.http,
    exited: proc.exited,
    stop: () => proc.stop(35_000),
    kill: () => proc.kill(),
    restart: async () => {
      await proc.stop();
      return startWorker(opts);
    },
  };
}
