import { Connection } from '@temporalio/client';
import path from 'node:path';
import { SEARCH_ATTRIBUTE_NAMES } from '../workflows/search-attributes.js';
import { freePorts } from './ports.js';
import { startProcess, waitUntil, type ManagedProcess } from './process.js';

/** A running `temporal server start-dev`: SQLite-backed, optionally with its Web UI. */
export interface TemporalDevServer {
  /** host:port of the frontend gRPC service, as clients and workers take it. */
  address: string;
  namespace: string;
  /** http://127.0.0.1:PORT of the Web UI, when started with one. */
  uiUrl?: string;
  process: ManagedProcess;
}

export interface TemporalDevServerOptions {
  bin: string;
  dir: string;
  ui?: boolean;
  port?: number;
  uiPort?: number;
  pidFile?: string;
  /** The Web UI's codec server (`ferry codec-server`), so it shows payloads Ferry encrypts. */
  uiCodecEndpoint?: string;
  /** Extra namespaces to create at launch; "default" always exists. */
  namespaces?: string[];
}

export async function startTemporalDevServer(opts: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const [port, uiPort] = opts.port && opts.uiPort ? [opts.port, opts.uiPort] : await freePorts(2);
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--db-filename',
    path.join(opts.dir, 'temporal.sqlite'),
    '--log-level',
    'warn',
    ...(opts.ui ? ['--ui-port', String(uiPort)] : ['--headless']),
    ...(opts.ui && opts.uiCodecEndpoint ? ['--ui-codec-endpoint', opts.uiCodecEndpoint] : []),
    ...(opts.namespaces ?? []).flatMap((n) => ['--namespace', n]),
    // Ferry's search attributes, registered from the start (the worker would add them too).
    ...SEARCH_ATTRIBUTE_NAMES.flatMap((n) => ['--search-attribute', `${n}=Keyword`]),
  ];
  const proc = startProcess({
    name: 'temporal',
    command: opts.bin,
    args,
    logPath: path.join(opts.dir, 'temporal.log'),
    pidFile: opts.pidFile,
  });
  const address = `127.0.0.1:${port}`;
  await waitUntil(
    proc,
    `serving the default namespace on ${address}`,
    async () => {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await conn.workflowService.describeNamespace({ namespace: 'default' });
        return true;
      } finally {
        await conn.close();
      }
    },
    60_000,
  );
  return {
    address,
    namespace: 'default',
    ...(opts.ui ? { uiUrl: `http://127.0.0.1:${uiPort}` } : {}),
    process: proc,
  };
}
