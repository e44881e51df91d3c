// Production-shaped Temporal on loopback: Temporal Server (not the dev server) on a private
// PostgreSQL 15 cluster, both ManagedProcesses in the caller's pid file, so the reaper ends them
// with their starter. The first start runs initdb, creates the `temporal` and
// `temporal_visibility` databases with Temporal's SQL schema tool (setup-schema, then
// update-schema from the pinned module's versioned schema files) and registers the namespace; a
// start on an existing directory reuses its data.
//
//   const t = await startTemporalPostgres({ dir, bins, schemaDir, pidFile });
//   t.address;                 // '127.0.0.1:PORT', namespace 'default' registered
//   await t.restart();         // the server stops and starts again on the same data and ports
//   await t.stop();            // the server, then PostgreSQL
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePorts, freePortsInRange } from './ports.js';
import { startProcess, tailLog, waitUntil, type ManagedProcess } from './process.js';
import {
  assignPorts,
  dynamicConfigYaml,
  MAX_MEMBERSHIP_PORT,
  temporalServerConfig,
  TEMPORAL_DATABASE,
  TEMPORAL_SERVICES,
  VISIBILITY_DATABASE,
  type TemporalServerPorts,
} from './temporal-server-config.js';

const run = promisify(execFile);

export interface TemporalPostgresOptions {
  /** Holds pgdata/, the server's config/ and both logs. */
  dir: string;
  /** `temporal-server` and `temporal-sql-tool` of the same version as `schemaDir`. */
  bins: { server: string; sqlTool: string };
  /** Temporal's schema/postgresql/v12 folder (binaries.ts temporalSchemaDir()). */
  schemaDir: string;
  /** PostgreSQL's programs: default $FERRY_POSTGRES_BIN_DIR, else Debian's /usr/lib/postgresql/15/bin. */
  postgresBinDir?: string;
  pidFile?: string;
  /** Registered at the first start (default "default"). */
  namespace?: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Dynamic config values, e.g. { 'limit.historyCount.suggestContinueAsNew': 50 }. */
  dynamicConfig?: Record<string, unknown>;
  /** Time allowed for each start of the server (default 60 s). */
  readyTimeoutMs?: number;
}

export interface TemporalPostgres {
  /** host:port of the frontend, as clients and workers take it. */
  address: string;
  namespace: string;
  /** The running Temporal server (a new one after each start). */
  readonly process: ManagedProcess;
  postgres: { port: number; dataDir: string; process: ManagedProcess };
  /** Milliseconds of the first start's steps: postgres, schema, server, namespace, total. */
  timings: Record<string, number>;
  /** SIGTERM the server (SIGKILL after 15 s); PostgreSQL keeps running. */
  stopServer(): Promise<void>;
  /** SIGKILL the server: a crash. */
  killServer(): Promise<void>;
  /** Starts the server again on the same config, ports and data; resolves with ms until ready. */
  startServer(): Promise<number>;
  /** stopServer, then startServer; resolves with ms from the stop's start until ready. */
  restart(): Promise<number>;
  /** Stops the server, then PostgreSQL. */
  stop(): Promise<void>;
}

export const DEFAULT_POSTGRES_BIN_DIR = '/usr/lib/postgresql/15/bin';
const DB_USER = 'temporal';

export async function startTemporalPostgres(opts: TemporalPostgresOptions): Promise<TemporalPostgres> {
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const dir = path.resolve(opts.dir);
  const pgBin = opts.postgresBinDir ?? process.env['FERRY_POSTGRES_BIN_DIR'] ?? DEFAULT_POSTGRES_BIN_DIR;
  for (const p of ['initdb', 'postgres', 'pg_isready']) {
    if (!existsSync(path.join(pgBin, p))) {
      throw new Error(
        `postgresBinDir: ${path.join(pgBin, p)} not found (install Debian's postgresql-15 or set FERRY_POSTGRES_BIN_DIR)`,
      );
    }
  }
  for (const [flag, bin] of [
    ['bins.server', opts.bins.server],
    ['bins.sqlTool', opts.bins.sqlTool],
  ] as const) {
    if (!existsSync(bin)) throw new Error(`${flag}: ${bin} not found (tools/servers.sh ensure ${flag})`);
  }
  for (const schema of ['temporal', 'visibility']) {
    if (!existsSync(path.join(opts.schemaDir, schema, 'versioned'))) {
      throw new Error(`schemaDir: ${opts.schemaDir} has no ${schema}/versioned folder`);
    }
  }
  await mkdir(dir, { recursive: true });
  const namespace = opts.namespace ?? 'default';

  // PostgreSQL refuses to run as root: then it runs as the `postgres` user Debian's package made.
  const owner = await postgresOwner();
  const dataDir = path.join(dir, 'pgdata');
  const fresh = !existsSync(path.join(dataDir, 'PG_VERSION'));
  let t = Date.now();
  if (fresh) {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    if (owner) await chown(dataDir, owner.uid, owner.gid);
    await run(
      path.join(pgBin, 'initdb'),
      [
        '-D',
        dataDir,
        '-U',
        DB_USER,
        '-A',
        'trust',
        '-E',
        'UTF8',
        '--locale=C',
        '--no-sync',
        '--no-instructions',
      ],
      { ...(owner ?? {}), cwd: '/', timeout: 120_000 },
    ).catch((err: { stderr?: string; message: string }) => {
      throw new Error(`initdb ${dataDir} failed: ${err.stderr || err.message}`);
    });
  }
  const [pgPort = 0, ...grpcPorts] = await freePorts(1 + TEMPORAL_SERVICES.length);
  const membershipPorts = await freePortsInRange(TEMPORAL_SERVICES.length, 20000, MAX_MEMBERSHIP_PORT);
  const postgres = startProcess({
    name: 'postgres',
    command: path.join(pgBin, 'postgres'),
    args: [
      '-D',
      dataDir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-p',
      String(pgPort),
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=200',
      // Test data on a shared machine: commits are not flushed one by one. A crash of the machine
      // could lose the last commits; a stop or kill of either process loses nothing.
      '-c',
      'synchronous_commit=off',
    ],
    logPath: path.join(dir, 'postgres.log'),
    pidFile: opts.pidFile,
    cwd: '/',
    ...(owner ?? {}),
  });
  try {
    await waitUntil(
      postgres,
      `accepting connections on 127.0.0.1:${pgPort}`,
      async () => {
        await run(path.join(pgBin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(pgPort)]);
        return true;
      },
      60_000,
    );
    timings['postgres'] = Date.now() - t;

    t = Date.now();
    if (fresh) {
      await Promise.all([
        setupDatabase(opts.bins.sqlTool, pgPort, TEMPORAL_DATABASE, path.join(opts.schemaDir, 'temporal')),
        setupDatabase(
          opts.bins.sqlTool,
          pgPort,
          VISIBILITY_DATABASE,
          path.join(opts.schemaDir, 'visibility'),
        ),
      ]);
    }
    timings['schema'] = Date.now() - t;
  } catch (err) {
    await postgres.stop();
    throw err;
  }

  const ports = assignPorts(grpcPorts, membershipPorts);
  const root = path.join(dir, 'server');
  await mkdir(path.join(root, 'config'), { recursive: true });
  let dynamicConfigPath: string | undefined;
  if (opts.dynamicConfig) {
    dynamicConfigPath = path.join(root, 'config', 'dynamic.yaml');
    await writeFile(dynamicConfigPath, dynamicConfigYaml(opts.dynamicConfig));
  }
  await writeFile(
    path.join(root, 'config', 'development.yaml'),
    temporalServerConfig({
      ports,
      postgresPort: pgPort,
      user: DB_USER,
      logLevel: opts.logLevel,
      ...(dynamicConfigPath ? { dynamicConfigPath } : {}),
    }),
  );
  const address = `127.0.0.1:${ports.frontend.grpc}`;
  const server = new ServerProcess(opts, root, address, namespace, ports);

  try {
    t = Date.now();
    await server.start(fresh ? { register: true } : {});
    timings['server'] = Date.now() - t - server.registerMs;
    timings['namespace'] = server.registerMs;
  } catch (err) {
    await postgres.stop();
    throw err;
  }
  timings['total'] = Date.now() - t0;

  return {
    address,
    namespace,
    get process() {
      return server.proc;
    },
    postgres: { port: pgPort, dataDir, process: postgres },
    timings,
    stopServer: () => server.proc.stop(15_000),
    killServer: () => server.proc.kill(),
    startServer: async () => {
      const start = Date.now();
      if (server.proc.running()) throw new Error(`temporal-server (pid ${server.proc.pid}) is still running`);
      await server.start({});
      return Date.now() - start;
    },
    restart: async () => {
      const start = Date.now();
      await server.proc.stop(15_000);
      await server.start({});
      return Date.now() - start;
    },
    stop: async () => {
      await server.proc.stop(15_000);
      await postgres.stop(10_000);
    },
  };
}

/** One `temporal-server start` at a time, on the same config; ready when the namespace answers. */
class ServerProcess {
  proc!: ManagedProcess;
  registerMs = 0;

  constructor(
    private readonly opts: TemporalPostgresOptions,
    private readonly root: string,
    private readonly address: string,
    private readonly namespace: string,
    private readonly ports: TemporalServerPorts,
  ) {}

  async start(how: { register?: boolean }): Promise<void> {
    this.proc = startProcess({
      name: 'temporal-server',
      command: this.opts.bins.server,
      args: ['--root', this.root, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'],
      logPath: path.join(path.dirname(this.root), 'temporal-server.log'),
      pidFile: this.opts.pidFile,
      cwd: this.root,
    });
    const timeout = this.opts.readyTimeoutMs ?? 60_000;
    let connection: Connection | undefined;
    const connect = async () =>
      (connection ??= await Connection.connect({ address: this.address, connectTimeout: 1000 }));
    try {
      await waitUntil(
        this.proc,
        `serving on ${this.address}`,
        async () => {
          const c = await connect();
          const health = await c.healthService.check({
            service: 'temporal.api.workflowservice.v1.WorkflowService',
          });
          return health.status === 1; // SERVING
        },
        timeout,
      );
      if (how.register) {
        const t = Date.now();
        const c = await connect();
        await c.workflowService
          .registerNamespace({ namespace: this.namespace, workflowExecutionRetentionPeriod: msToTs('1 day') })
          .catch((err: { code?: number }) => {
            if (err.code !== 6) throw err; // ALREADY_EXISTS: registered by an earlier start
          });
        this.registerMs = Date.now() - t;
      }
      // Ready for work: the namespace is in the frontend's cache and history answers (a missing
      // workflow is NOT_FOUND, not UNAVAILABLE).
      await waitUntil(
        this.proc,
        `serving namespace ${this.namespace} on ${this.address}`,
        async () => {
          const c = await connect();
          await c.workflowService.listWorkflowExecutions({ namespace: this.namespace, pageSize: 1 });
          const code = await c.workflowService
            .getWorkflowExecutionHistory({
              namespace: this.namespace,
              execution: { workflowId: 'ferry-readiness-probe' },
            })
            .then(
              () => 0,
              (err: { code?: number }) => err.code ?? -1,
            );
          return code === 5; // NOT_FOUND
        },
        timeout,
      );
    } catch (err) {
      await this.proc.kill();
      throw new Error(
        `${(err as Error).message}\nports: ${JSON.stringify(this.ports)}\n${tailLog(this.proc.logPath, 5)}`,
      );
    } finally {
      await connection?.close().catch(() => undefined);
    }
  }
}

/** Creates `db` and its tables at the schema's latest version with temporal-sql-tool. */
async function setupDatabase(sqlTool: string, port: number, db: string, schema: string): Promise<void> {
  const common = [
    '--plugin',
    'postgres12',
    '--ep',
    '127.0.0.1',
    '-p',
    String(port),
    '-u',
    DB_USER,
    '--pw',
    DB_USER,
  ];
  const steps = [
    [...common, '--db', db, 'create-database'],
    [...common, '--db', db, 'setup-schema', '-v', '0.0'],
    [...common, '--db', db, 'update-schema', '-d', path.join(schema, 'versioned')],
  ];
  for (const args of steps) {
    await run(sqlTool, args, { timeout: 120_000 }).catch(
      (err: { stderr?: string; stdout?: string; message: string }) => {
        throw new Error(
          `temporal-sql-tool ${args.slice(common.length).join(' ')} failed: ${err.stderr || err.stdout || err.message}`,
        );
      },
    );
  }
}

/** The user PostgreSQL runs as when this process is root (Debian's `postgres`); null otherwise. */
async function postgresOwner(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const id = async (flag: string) => Number((await run('id', [flag, 'postgres'])).stdout.trim());
  try {
    return { uid: await id('-u'), gid: await id('-g') };
  } catch {
    throw new Error(
      'PostgreSQL refuses to run as root and there is no `postgres` user: install postgresql-15 or run as another user',
    );
  }
}
