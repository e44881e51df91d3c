// The configuration file of a single-process Temporal Server (frontend, history, matching and
// worker services in one process) on PostgreSQL, every port on loopback. Pure: the ports are
// chosen by the caller, so a restart reuses them and the config can be tested without a server.
//
//   const text = temporalServerConfig({ ports, postgresPort: 5432 });
//   // written to <root>/config/development.yaml, read by `temporal-server --root <root> start`
import { stringify } from 'yaml';

/** The services of one Temporal Server process, each with a gRPC port and a membership port. */
export const TEMPORAL_SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;
export type TemporalService = (typeof TEMPORAL_SERVICES)[number];

export type TemporalServerPorts = Record<TemporalService, { grpc: number; membership: number }>;

export interface TemporalServerConfigInput {
  ports: TemporalServerPorts;
  postgresPort: number;
  /** Database user; the cluster trusts loopback, so the password is not checked. */
  user?: string;
  /** Fixed at the first start: it is stored in the database and may never change afterwards. */
  historyShards?: number;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** A dynamic config file (YAML), when the caller writes one. */
  dynamicConfigPath?: string;
}

export const TEMPORAL_DATABASE = 'temporal';
export const VISIBILITY_DATABASE = 'temporal_visibility';

/**
 * Membership ports are stored in the cluster_membership table as a smallint: a port above this
 * makes the server fail at start ("value ... is out of range for type smallint").
 */
export const MAX_MEMBERSHIP_PORT = 32767;

/** The 8 ports a server needs: a gRPC port per service and a membership port (≤ 32767) each. */
export function assignPorts(grpc: number[], membership: number[]): TemporalServerPorts {
  const n = TEMPORAL_SERVICES.length;
  if (grpc.length !== n || membership.length !== n || new Set([...grpc, ...membership]).size !== 2 * n) {
    throw new Error(
      `ports: need ${n} gRPC and ${n} membership ports, all distinct, got [${grpc.join(', ')}] and [${membership.join(', ')}]`,
    );
  }
  return Object.fromEntries(
    TEMPORAL_SERVICES.map((s, i) => [s, { grpc: grpc[i]!, membership: membership[i]! }]),
  ) as TemporalServerPorts;
}

export function temporalServerConfig(input: TemporalServerConfigInput): string {
  const user = input.user ?? 'temporal';
  const shards = input.historyShards ?? 4;
  if (!Number.isInteger(shards) || shards < 1) {
    throw new Error(`historyShards: must be a positive integer, got ${shards}`);
  }
  for (const [what, port] of [
    ['postgresPort', input.postgresPort],
    ...TEMPORAL_SERVICES.flatMap((s) => [
      [`ports.${s}.grpc`, input.ports[s].grpc],
      [`ports.${s}.membership`, input.ports[s].membership],
    ]),
  ] as Array<[string, number]>) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(`${what}: must be a TCP port (1-65535), got ${port}`);
    }
    if (what.endsWith('.membership') && port > MAX_MEMBERSHIP_PORT) {
      throw new Error(
        `${what}: must be at most ${MAX_MEMBERSHIP_PORT} (Temporal's SQL schema stores it as a smallint), got ${port}`,
      );
    }
  }
  const datastore = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `127.0.0.1:${input.postgresPort}`,
      connectProtocol: 'tcp',
      user,
      password: user,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const config = {
    log: { stdout: true, level: input.logLevel ?? 'info' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: shards,
      datastores: {
        'postgres-default': datastore(TEMPORAL_DATABASE, 20),
        'postgres-visibility': datastore(VISIBILITY_DATABASE, 4),
      },
    },
    // No pprof and no metrics listener: nothing listens beyond the ports above.
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    services: Object.fromEntries(
      TEMPORAL_SERVICES.map((s) => [
        s,
        {
          rpc: {
            grpcPort: input.ports[s].grpc,
            membershipPort: input.ports[s].membership,
            bindOnLocalHost: true,
            // The frontend's HTTP API stays off (port 0).
            ...(s === 'frontend' ? { httpPort: 0 } : {}),
          },
        },
      ]),
    ),
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: {
          enabled: true,
          initialFailoverVersion: 1,
          rpcName: 'frontend',
          rpcAddress: `127.0.0.1:${input.ports.frontend.grpc}`,
        },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    ...(input.dynamicConfigPath
      ? { dynamicConfigClient: { filepath: input.dynamicConfigPath, pollInterval: '10s' } }
      : {}),
  };
  return stringify(config);
}

/** A dynamic config file: each key with one unconstrained value. */
export function dynamicConfigYaml(values: Record<string, unknown>): string {
  return stringify(Object.fromEntries(Object.entries(values).map(([k, v]) => [k, [{ value: v }]])));
}
