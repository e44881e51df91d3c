// The Temporal connection flags, shared by `ferry worker` and the CLI verbs that talk to Temporal
// (trigger, watch, describe, get -o wide). In the CLI `-n/--namespace` is the Kubernetes
// namespace, so Temporal's is `--temporal-namespace` there; the worker keeps `--namespace`.

import { FerryClient, type FerryClientOptions } from '../sdk.js';
import { flagValue, type FlagSpec, type ParsedArgs } from './args.js';

export function temporalFlags(namespaceFlag: 'namespace' | 'temporal-namespace'): FlagSpec[] {
  return [
    {
      name: 'temporal-address',
      value: 'HOST:PORT',
      help: 'Temporal frontend (env TEMPORAL_ADDRESS; default localhost:7233).',
    },
    {
      name: namespaceFlag,
      value: 'NS',
      help: 'Temporal namespace (env TEMPORAL_NAMESPACE; default "default").',
    },
    {
      name: 'task-queue',
      value: 'NAME',
      help: 'Task queue (env FERRY_TASK_QUEUE; default "ferry"). One per protected cluster.',
    },
    {
      name: 'temporal-tls-cert',
      value: 'FILE',
      help: 'Client certificate for mTLS to Temporal (env TEMPORAL_TLS_CERT).',
    },
    {
      name: 'temporal-tls-key',
      value: 'FILE',
      help: 'Client key for mTLS to Temporal (env TEMPORAL_TLS_KEY).',
    },
    {
      name: 'temporal-tls-ca',
      value: 'FILE',
      help: "CA of Temporal's server certificate (env TEMPORAL_TLS_CA).",
    },
    {
      name: 'temporal-api-key-file',
      value: 'FILE',
      help: 'API key for Temporal Cloud (env TEMPORAL_API_KEY_FILE); implies TLS.',
    },
  ];
}

export const CLI_TEMPORAL_FLAGS = temporalFlags('temporal-namespace');

/** The SDK client the CLI's Temporal flags (and their environment twins) describe. */
export function connectFromFlags(
  args: ParsedArgs,
  extra: Pick<FerryClientOptions, 'connectTimeoutMs' | 'queryTimeoutMs'> = {},
): Promise<FerryClient> {
  const opt = (name: string) => flagValue(args, name);
  return FerryClient.connect({
    address: opt('temporal-address'),
    namespace: opt('temporal-namespace'),
    taskQueue: opt('task-queue'),
    tlsCert: opt('temporal-tls-cert'),
    tlsKey: opt('temporal-tls-key'),
    tlsCa: opt('temporal-tls-ca'),
    apiKeyFile: opt('temporal-api-key-file'),
    ...extra,
  });
}
