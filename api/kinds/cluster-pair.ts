// ClusterPair (namespaced): how to reach the destination cluster. `spec.config` is a kubeconfig
// (kept as written, free-form); `spec.options` is Stork's map[string]string: ip, port (default
// 9001), token and mode of the destination's storage agent, plus any other string option.
// `spec.platformOptions.rancher.projectMappings` (Stork's Rancher support) is accepted, stored and
// ignored with a warning.

import { freeObject, map, object, string, type InOf, type OutOf } from '../schema/index.js';
import { apiVersionField, ignoredByFerry, kindField } from './common.js';
import { objectMeta } from './meta.js';

export const CLUSTER_PAIR_STATUSES = [
  'Initial',
  'Pending',
  'Ready',
  'NotProvided',
  'Error',
  'Degraded',
  'Deleting',
] as const;
export const DEFAULT_AGENT_PORT = '9001';
export const DISASTER_RECOVERY_MODE = 'DisasterRecovery';

const PLACEHOLDER = /^<.*>$/;

export const clusterPairOptionsSchema = map(string(), {
  description:
    'Options of the pairing as strings (Stork: map[string]string): ip and port (default 9001) of the ' +
    "destination's storage agent, token to authenticate to it, mode (DisasterRecovery or empty), and others.",
  defaultEntries: { port: DEFAULT_AGENT_PORT },
  check: (options, report) => {
    // Runs even when a value already failed its type check (null, a number): look at strings only.
    const port = typeof options['port'] === 'string' ? options['port'] : undefined;
    if (port !== undefined && /^[-+]?[0-9]+$/.test(port.trim())) {
      const n = Number(port);
      if (!(n >= 1 && n <= 65535))
        report.error(`${JSON.stringify(port)} is not a valid port: must be between 1 and 65535`, ['port']);
    } else if (port !== undefined && !PLACEHOLDER.test(port)) {
      report.error(`${JSON.stringify(port)} is not a valid port: must be a number between 1 and 65535`, [
        'port',
      ]);
    }
    const mode = typeof options['mode'] === 'string' ? options['mode'] : undefined;
    if (mode !== undefined && mode !== '' && mode !== DISASTER_RECOVERY_MODE) {
      report.error(
        `${JSON.stringify(mode)} is not a valid mode: must be ${DISASTER_RECOVERY_MODE} or empty`,
        ['mode'],
      );
    }
    for (const key of ['ip', 'port', 'token']) {
      const value = options[key];
      if (value !== undefined && PLACEHOLDER.test(value)) {
        report.warning(`${JSON.stringify(value)} looks like a placeholder; replace it before applying`, [
          key,
        ]);
      }
    }
  },
});

export const RANCHER_PROJECT_MAPPINGS_IGNORED = ignoredByFerry(
  'Stork moves migrated namespaces between Rancher projects; Ferry keeps namespace labels and annotations as ' +
    'they are and knows no Rancher projects',
);

export const platformOptionsSchema = object(
  {
    rancher: object(
      {
        projectMappings: map(string(), {
          description:
            'Stork: Rancher project on the source -> project on the destination. Accepted and stored; Ferry ' +
            'ignores it (a warning says so).',
          check: (v, report) => {
            if (Object.keys(v).length > 0) report.warning(RANCHER_PROJECT_MAPPINGS_IGNORED);
          },
        }),
      },
      { description: 'Stork: Rancher options.' },
    ),
  },
  { description: 'Stork: options of the Kubernetes platform provider.' },
);

export const clusterPairSpecSchema = object(
  {
    config: freeObject({
      description:
        'Kubeconfig of the destination cluster, kept as written (clusters, contexts, users, current-context).',
    }),
    options: clusterPairOptionsSchema,
    platformOptions: platformOptionsSchema,
  },
  { description: 'How to reach the destination cluster and its storage agent.', required: ['config'] },
);

const pairStatus = (what: string) =>
  string({ description: `Status of the ${what} pairing.`, enum: ['', ...CLUSTER_PAIR_STATUSES] });

export const clusterPairStatusSchema = object(
  {
    schedulerStatus: pairStatus('scheduler (Kubernetes)'),
    storageStatus: pairStatus('storage'),
    remoteStorageId: string({ description: "ID of the destination's storage cluster." }),
  },
  { description: 'Observed state, written by Ferry.' },
);

export const clusterPairSchema = object(
  {
    apiVersion: apiVersionField(),
    kind: kindField('ClusterPair'),
    metadata: objectMeta,
    spec: clusterPairSpecSchema,
    status: clusterPairStatusSchema,
  },
  {
    description: 'A pairing with a destination cluster: its kubeconfig and its storage agent.',
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
  },
);

export type ClusterPairSpec = OutOf<typeof clusterPairSpecSchema>;
export type ClusterPairStatus = OutOf<typeof clusterPairStatusSchema>;
export type ClusterPair = OutOf<typeof clusterPairSchema>;
export type ClusterPairInput = InOf<typeof clusterPairSchema>;
