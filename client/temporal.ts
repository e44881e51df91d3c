// The one place Ferry's Temporal clients are made (the worker's controllers, `up`, the drill, the
// benchmarks, the tests' harness), so each gets the payload codec whenever keys are configured.
// Workers (NativeConnection, in workers/) take the same `ferryDataConverter(keys)`.
//
//   const t = await connectTemporal({ address: 'localhost:7233', namespace: 'default',
//                                     codecKeys: await codecKeysFromEnv() });
//   await t.client.workflow.start(...); await t.close();
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { ferryDataConverter, type CodecKey } from './payload-codec.js';

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
