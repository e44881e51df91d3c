// `ferry worker`: the Temporal worker (Migration and MigrationSchedule workflows, their activities)
// and the Migration and MigrationSchedule controllers, for one protected cluster and its agent.
//
//   ferry worker --kubeconfig FILE --agent-url URL --agent-token-file FILE [--agent-ca-file FILE]
//                [--temporal-address HOST:PORT] [--namespace NS] [--task-queue ferry]
//                [--temporal-tls-cert FILE --temporal-tls-key FILE] [--temporal-tls-ca FILE]
//                [--temporal-api-key-file FILE] [--http-listen 127.0.0.1:9090]
//                [--workflow-bundle FILE]
//
// Every flag has an environment twin (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, FERRY_TASK_QUEUE,
// KUBECONFIG, FERRY_AGENT_URL, ...). Without a kubeconfig it uses the in-cluster service account.
// Logs are JSON lines (pino) on stderr; `/metrics` (Prometheus) and `/healthz` are served on
// --http-listen; once ready it prints one JSON line to stdout:
//   {"ready":true,"pid":…,"taskQueue":"ferry","http":"127.0.0.1:9090"}
// SIGTERM or SIGINT: stop polling, let running activities finish (up to --drain-seconds), exit 0.
import { KubeConfig } from '@kubernetes/client-node';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { createActivities } from '../activities/index.js';
import { KubeClient } from '../kube/client.js';
import { flagValue, formatFlags, parseArgs, UsageError, type FlagSpec } from '../client/cli/args.js';
import { temporalFlags } from '../client/cli/temporal-flags.js';
import { codecKeysFromEnv, ferryDataConverter, type CodecKey } from '../client/payload-codec.js';
import { connectionOptions, connectTemporal, DEFAULT_TASK_QUEUE } from '../client/temporal.js';
import { MigrationController } from './controllers/migration.js';
import { MigrationScheduleController } from './controllers/migration-schedule.js';
import { WorkerMetrics } from './metrics.js';
import { ensureSearchAttributes } from './search-attributes.js';
import { SEARCH_ATTRIBUTE_NAMES } from '../workflows/search-attributes.js';

const FLAGS: FlagSpec[] = [
  {
    name: 'kubeconfig',
    value: 'FILE',
    help: 'Kubeconfig of the protected cluster (env KUBECONFIG; default: in-cluster).',
  },
  { name: 'context', value: 'NAME', help: 'Context of the kubeconfig to use.' },
  {
    name: 'agent-url',
    value: 'URL',
    help: "Control URL of this cluster's storage agent (env FERRY_AGENT_URL).",
  },
  {
    name: 'agent-token-file',
    value: 'FILE',
    help: "File holding the agent's token (env FERRY_AGENT_TOKEN_FILE).",
  },
  {
    name: 'agent-ca-file',
    value: 'FILE',
    help: "CA to verify the agent's certificate (env FERRY_AGENT_CA_FILE).",
  },
  ...temporalFlags('namespace'),
  {
    name: 'http-listen',
    value: 'HOST:PORT',
    help: 'Where /metrics and /healthz listen (default 127.0.0.1:9090; port 0 picks one).',
  },
  {
    name: 'workflow-bundle',
    value: 'FILE',
    help: 'A prebuilt workflow bundle (default: bundle workflows/ at start).',
  },
  {
    name: 'drain-seconds',
    value: 'N',
    help: 'On SIGTERM, how long running activities may take to finish (default 30).',
  },
  { name: 'log-level', value: 'LEVEL', help: 'debug, info, warn or error (default info).' },
  {
    name: 'max-cached-workflows',
    value: 'N',
    help: 'Workflows kept in the sticky cache (default 500; each schedule and running migration is one).',
  },
  {
    name: 'max-concurrent-workflow-tasks',
    value: 'N',
    help: 'Workflow tasks run at once (default 40, the SDK default).',
  },
  {
    name: 'max-concurrent-activities',
    value: 'N',
    help: 'Activities run at once (default 100, the SDK default).',
  },
  {
    name: 'transfer-stall-seconds',
    value: 'N',
    help: 'A volume transfer that moves no byte, or whose commit waits on one thing or hears nothing from the destination agent, for this long fails, naming that agent (default 300).',
  },
];

export const WORKER_USAGE = `usage: ferry worker [flags]\n\n${formatFlags(FLAGS)}`;

interface WorkerConfig {
  kubeconfig?: string;
  context?: string;
  agentUrl: string;
  agentTokenFile: string;
  agentCaFile?: string;
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  tls?: { cert?: string; key?: string; ca?: string };
  apiKeyFile?: string;
  httpHost: string;
  httpPort: number;
  workflowBundle?: string;
  drainSeconds: number;
  logLevel: string;
  maxCachedWorkflows: number;
  maxConcurrentWorkflowTasks: number;
  maxConcurrentActivities: number;
  transferStallSeconds: number;
}

export function parseWorkerFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const args = parseArgs(argv, FLAGS);
  if (args.positionals.length > 0)
    throw new UsageError(`unexpected argument ${JSON.stringify(args.positionals[0])}`);
  const get = (flag: string, envName?: string) =>
    flagValue(args, flag) ?? (envName ? env[envName] : undefined) ?? undefined;
  const need = (flag: string, envName: string) => {
    const v = get(flag, envName);
    if (!v) throw new UsageError(`--${flag} (or ${envName}) is required`);
    return v;
  };
  const listen = get('http-listen') ?? '127.0.0.1:9090';
  const colon = listen.lastIndexOf(':');
  const port = Number(listen.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(
      `--http-listen ${JSON.stringify(listen)}: expected HOST:PORT with a port in 0..65535`,
    );
  const drain = Number(get('drain-seconds') ?? '30');
  if (!Number.isInteger(drain) || drain < 0)
    throw new UsageError(
      `--drain-seconds ${JSON.stringify(get('drain-seconds'))}: expected a whole number of seconds`,
    );
  const count = (flag: string, fallback: number, min: number) => {
    const raw = get(flag);
    if (raw === undefined) return fallback;
    const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!(n >= min))
      throw new UsageError(`--${flag} ${JSON.stringify(raw)}: expected a whole number ≥ ${min}`);
    return n;
  };
  const level = get('log-level', 'FERRY_LOG_LEVEL') ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(level))
    throw new UsageError(`--log-level ${JSON.stringify(level)}: expected debug, info, warn or error`);
  const tls = {
    cert: get('temporal-tls-cert', 'TEMPORAL_TLS_CERT'),
    key: get('temporal-tls-key', 'TEMPORAL_TLS_KEY'),
    ca: get('temporal-tls-ca', 'TEMPORAL_TLS_CA'),
  };
  if (Boolean(tls.cert) !== Boolean(tls.key))
    throw new UsageError('--temporal-tls-cert and --temporal-tls-key go together');
  return {
    kubeconfig: get('kubeconfig', 'KUBECONFIG'),
    context: get('context'),
    agentUrl: need('agent-url', 'FERRY_AGENT_URL'),
    agentTokenFile: need('agent-token-file', 'FERRY_AGENT_TOKEN_FILE'),
    agentCaFile: get('agent-ca-file', 'FERRY_AGENT_CA_FILE'),
    temporalAddress: get('temporal-address', 'TEMPORAL_ADDRESS') ?? 'localhost:7233',
    namespace: get('namespace', 'TEMPORAL_NAMESPACE') ?? 'default',
    taskQueue: get('task-queue', 'FERRY_TASK_QUEUE') ?? DEFAULT_TASK_QUEUE,
    ...(tls.cert || tls.ca ? { tls } : {}),
    apiKeyFile: get('temporal-api-key-file', 'TEMPORAL_API_KEY_FILE'),
    httpHost: listen.slice(0, colon).replace(/^\[|\]$/g, ''),
    httpPort: port,
    workflowBundle: get('workflow-bundle'),
    drainSeconds: drain,
    logLevel: level,
    maxCachedWorkflows: count('max-cached-workflows', 500, 0),
    maxConcurrentWorkflowTasks: count('max-concurrent-workflow-tasks', 40, 2),
    maxConcurrentActivities: count('max-concurrent-activities', 100, 1),
    transferStallSeconds: count('transfer-stall-seconds', 300, 1),
  };
}

async function readSecret(file: string, flag: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    throw new UsageError(`${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export async function workerMain(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${WORKER_USAGE}\n`);
    return 0;
  }
  let config: WorkerConfig;
  try {
    config = parseWorkerFlags(argv);
  } catch (err) {
    process.stderr.write(`ferry worker: ${(err as Error).message}\n${WORKER_USAGE}\n`);
    return 1;
  }
  const log = pino(
    { level: config.logLevel, base: { component: 'ferry-worker', pid: process.pid } },
    pino.destination(2),
  );
  Runtime.install({
    logger: new DefaultLogger('WARN', (entry) => log.warn({ temporal: entry.meta }, entry.message)),
    shutdownSignals: [],
  });

  const kc = new KubeConfig();
  try {
    if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
    else kc.loadFromCluster();
    if (config.context) kc.setCurrentContext(config.context);
  } catch (err) {
    process.stderr.write(
      `ferry worker: cannot load kubeconfig ${config.kubeconfig ?? '(in-cluster)'}: ${(err as Error).message}\n`,
    );
    return 1;
  }
  const kube = KubeClient.fromKubeConfig(kc);
  const agent = {
    url: config.agentUrl,
    token: await readSecret(config.agentTokenFile, '--agent-token-file'),
    ...(config.agentCaFile ? { caCertPem: await readSecret(config.agentCaFile, '--agent-ca-file') } : {}),
  };

  const temporalOptions = await connectionOptions({
    address: config.temporalAddress,
    tls: config.tls,
    apiKeyFile: config.apiKeyFile,
  });
  // Payload encryption (client/payload-codec.ts): on when FERRY_CODEC_KEYS_FILE or FERRY_CODEC_KEYS is set.
  let codecKeys: CodecKey[] | undefined;
  try {
    codecKeys = await codecKeysFromEnv();
  } catch (err) {
    process.stderr.write(`ferry worker: ${(err as Error).message}\n`);
    return 1;
  }
  const dataConverter = ferryDataConverter(codecKeys);
  const nativeConnection = await NativeConnection.connect(temporalOptions);
  const {
    client: temporal,
    connection,
    close: closeClient,
  } = await connectTemporal({
    ...temporalOptions,
    address: config.temporalAddress,
    namespace: config.namespace,
    codecKeys,
  });
  try {
    const added = await ensureSearchAttributes(connection, config.namespace);
    if (added.length > 0) log.info({ added }, 'registered search attributes');
  } catch (err) {
    throw new Error(
      `cannot register Ferry's search attributes (${SEARCH_ATTRIBUTE_NAMES.join(', ')}, Keyword) in namespace ${config.namespace}: ${(err as Error).message}; register them with \`temporal operator search-attribute create\``,
    );
  }

  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ferry_worker_' });
  const metrics = new WorkerMetrics(registry);

  const here = path.dirname(fileURLToPath(import.meta.url));
  const worker = await Worker.create({
    connection: nativeConnection,
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    ...(config.workflowBundle
      ? { workflowBundle: { codePath: config.workflowBundle } }
      : { workflowsPath: path.resolve(here, '..', 'workflows', 'index.js') }),
    activities: createActivities({
      source: kube,
      agent,
      observer: metrics,
      transferStallMs: config.transferStallSeconds * 1000,
    }),
    ...(dataConverter ? { dataConverter } : {}),
    shutdownGraceTime: `${config.drainSeconds} seconds`,
    maxCachedWorkflows: config.maxCachedWorkflows,
    maxConcurrentWorkflowTaskExecutions: config.maxConcurrentWorkflowTasks,
    maxConcurrentActivityTaskExecutions: config.maxConcurrentActivities,
    // Cancellation reaches an activity only in a heartbeat's answer: send heartbeats at most a
    // second apart, so deleting a Migration stops its transfer within about a second.
    maxHeartbeatThrottleInterval: '1 second',
  });
  const controller = new MigrationController({
    kube,
    temporal,
    taskQueue: config.taskQueue,
    log,
    onReconcile: (outcome) => metrics.reconciled('Migration', outcome),
  });
  const scheduleController = new MigrationScheduleController({
    kube,
    temporal,
    taskQueue: config.taskQueue,
    log,
    onReconcile: (outcome) => metrics.reconciled('MigrationSchedule', outcome),
    onSchedule: (cr) => metrics.observeSchedule(cr),
  });

  let healthy = true;
  const server = http.createServer((req, res) => {
    if (req.url === '/healthz') {
      res
        .writeHead(healthy ? 200 : 503, { 'content-type': 'text/plain' })
        .end(healthy ? 'ok\n' : 'stopping\n');
    } else if (req.url === '/metrics') {
      void registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.httpPort, config.httpHost, resolve);
  });
  const address = server.address();
  const httpAt =
    typeof address === 'object' && address ? `${config.httpHost}:${address.port}` : String(address);

  const stop = (signal: string) => {
    log.info({ signal }, 'stopping: draining running activities');
    healthy = false;
    worker.shutdown();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  controller.start();
  scheduleController.start();
  const running = worker.run();
  log.info(
    {
      taskQueue: config.taskQueue,
      temporal: config.temporalAddress,
      http: httpAt,
      codecKeyId: codecKeys?.[0]?.id,
    },
    'worker ready',
  );
  process.stdout.write(
    `${JSON.stringify({ ready: true, pid: process.pid, taskQueue: config.taskQueue, http: httpAt })}\n`,
  );
  try {
    await running;
    log.info('worker drained: no activity or workflow task left');
  } finally {
    // Each step is bounded: a watch whose request the API server has not answered yet cannot be
    // aborted through client-node, and must not keep a drained worker from exiting.
    await within(log, 'controllers', 5000, Promise.all([controller.stop(), scheduleController.stop()]));
    server.close();
    await within(log, 'temporal client', 3000, closeClient());
    await within(log, 'temporal worker connection', 3000, nativeConnection.close());
  }
  log.info('stopped');
  return 0;
}

async function within(log: Logger, what: string, ms: number, done: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      log.warn({ what, ms }, 'did not stop in time; going on');
      resolve();
    }, ms);
  });
  await Promise.race([
    done.then(
      () => undefined,
      () => undefined,
    ),
    late,
  ]);
  clearTimeout(timer);
}
