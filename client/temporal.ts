// Where Ferry's Temporal is and how to reach it, the same for `ferry worker`, the SDK and the CLI:
// address, namespace, task queue, mTLS files or an API key file, each with its environment twin
// (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, FERRY_TASK_QUEUE, TEMPORAL_TLS_CERT/_KEY/_CA,
// TEMPORAL_API_KEY_FILE). Files are read when connecting, so a config holds paths only.
//
// And the one place Ferry's Temporal clients are made (the SDK and CLI, the worker's controllers,
// `up`, the drill, the benchmarks, the tests' harness), so each gets the payload codec whenever
// keys are configured. Workers (NativeConnection, in workers/) take the same
// `ferryDataConverter(keys)`.
//
//   const t = await connectTemporal({ address: 'localhost:7233', namespace: 'default',
//                                     codecKeys: await codecKeysFromEnv() });
//   await t.client.workflow.start(...); await t.close();

import { readFile } from 'node:fs/promises';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { ferryDataConverter, type CodecKey } from './payload-codec.js';

export const DEFAULT_TEMPORAL_ADDRESS = 'localhost:7233';
export const DEFAULT_TEMPORAL_NAMESPACE = 'default';
export const DEFAULT_TASK_QUEUE = 'ferry';

export interface TemporalConfig {
  address: string;
  namespace: string;
  taskQueue: string;
  tls?: { cert?: string; key?: string; ca?: string };
  apiKeyFile?: string;
}

export class TemporalConfigError extends Error {}

/** The config from explicit values (flags) over the environment over the defaults. */
export function temporalConfig(
  given: Partial<Omit<TemporalConfig, 'tls'>> & { tlsCert?: string; tlsKey?: string; tlsCa?: string },
  env: NodeJS.ProcessEnv = process.env,
): TemporalConfig {
  const pick = (v: string | undefined, name: string) => v ?? (env[name] || undefined);
  const tls = {
    cert: pick(given.tlsCert, 'TEMPORAL_TLS_CERT'),
    key: pick(given.tlsKey, 'TEMPORAL_TLS_KEY'),
    ca: pick(given.tlsCa, 'TEMPORAL_TLS_CA'),
  };
  if (Boolean(tls.cert) !== Boolean(tls.key))
    throw new TemporalConfigError('--temporal-tls-cert and --temporal-tls-key go together');
  const apiKeyFile = pick(given.apiKeyFile, 'TEMPORAL_API_KEY_FILE');
  return {
    address: pick(given.address, 'TEMPORAL_ADDRESS') ?? DEFAULT_TEMPORAL_ADDRESS,
    namespace: pick(given.namespace, 'TEMPORAL_NAMESPACE') ?? DEFAULT_TEMPORAL_NAMESPACE,
    taskQueue: pick(given.taskQueue, 'FERRY_TASK_QUEUE') ?? DEFAULT_TASK_QUEUE,
    ...(tls.cert || tls.ca ? { tls } : {}),
    ...(apiKeyFile ? { apiKeyFile } : {}),
  };
}

async function readOrExplain(file: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new TemporalConfigError(
      `${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

/** Connection options (`tls`, `apiKey`) with the files read; an API key alone implies TLS. */
export async function connectionOptions(
  config: Pick<TemporalConfig, 'address' | 'tls' | 'apiKeyFile'>,
): Promise<Pick<ConnectionOptions, 'address' | 'tls'> & { apiKey?: string }> {
  const apiKey = config.apiKeyFile
    ? (await readOrExplain(config.apiKeyFile, '--temporal-api-key-file')).toString('utf8').trim()
    : undefined;
  const t = config.tls;
  const tls = t
    ? {
        ...(t.ca ? { serverRootCACertificate: await readOrExplain(t.ca, '--temporal-tls-ca') } : {}),
        ...(t.cert && t.key
          ? {
              clientCertPair: {
                crt: await readOrExplain(t.cert, '--temporal-tls-cert'),
                key: await readOrExplain(t.key, '--temporal-tls-key'),
              },
            }
          : {}),
      }
    : apiKey
      ? true
      : undefined;
  return { address: config.address, ...(tls !== undefined ? { tls } : {}), ...(apiKey ? { apiKey } : {}) };
}

export interface TemporalTarget {
  address: string;
  namespace: string;
  tls?: ConnectionOptions['tls'];
  apiKey?: string;
  /** Payload codec keys (first encrypts); undefined: payloads as plain JSON. */
  codecKeys?: CodecKey[];
}

export interface TemporalConnection {
  connection: Connection;
  client: Client;
  close(): Promise<void>;
}

export async function connectTemporal(target: TemporalTarget): Promise<TemporalConnection> {
  const connection = await Connection.connect({
    address: target.address,
    ...(target.tls !== undefined ? { tls: target.tls } : {}),
    ...(target.apiKey !== undefined ? { apiKey: target.apiKey } : {}),
  });
  const dataConverter = ferryDataConverter(target.codecKeys);
  const client = new Client({
    connection,
    namespace: target.namespace,
    ...(dataConverter ? { dataConverter } : {}),
  });
  return { connection, client, close: () => connection.close() };
}
