import fc from 'fast-check';
import { parse } from 'yaml';
import {
  assignPorts,
  dynamicConfigYaml,
  temporalServerConfig,
  TEMPORAL_SERVICES,
} from '../../../localenv/temporal-server-config.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ports = assignPorts([7233, 7234, 7235, 7239], [6933, 6934, 6935, 6939]);

describe('temporalServerConfig', () => {
  it('puts every service on its own loopback ports and both stores on the PostgreSQL port', () => {
    const c = parse(temporalServerConfig({ ports, postgresPort: 5499, logLevel: 'warn' })) as Obj;
    expect(c.services).toEqual({
      frontend: { rpc: { grpcPort: 7233, membershipPort: 6933, bindOnLocalHost: true, httpPort: 0 } },
      history: { rpc: { grpcPort: 7234, membershipPort: 6934, bindOnLocalHost: true } },
      matching: { rpc: { grpcPort: 7235, membershipPort: 6935, bindOnLocalHost: true } },
      worker: { rpc: { grpcPort: 7239, membershipPort: 6939, bindOnLocalHost: true } },
    });
    expect(c.persistence.numHistoryShards).toBe(4);
    for (const [name, db] of [
      ['postgres-default', 'temporal'],
      ['postgres-visibility', 'temporal_visibility'],
    ]) {
      expect(c.persistence.datastores[name!].sql).toMatchObject({
        pluginName: 'postgres12',
        databaseName: db,
        connectAddr: '127.0.0.1:5499',
        user: 'temporal',
      });
    }
    expect(c.clusterMetadata.clusterInformation.active.rpcAddress).toBe('127.0.0.1:7233');
    expect(c.log).toEqual({ stdout: true, level: 'warn' });
    // Nothing else listens: no pprof, no metrics listener, no dynamic config unless asked.
    expect(c.global).toEqual({ membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } });
    expect(c.dynamicConfigClient).toBeUndefined();
    expect(
      (parse(temporalServerConfig({ ports, postgresPort: 5499, dynamicConfigPath: '/d/dyn.yaml' })) as Obj)
        .dynamicConfigClient,
    ).toEqual({ filepath: '/d/dyn.yaml', pollInterval: '10s' });
  });

  it.each([
    [{ postgresPort: 0 }, 'postgresPort: must be a TCP port (1-65535), got 0'],
    [{ postgresPort: 70000 }, 'postgresPort: must be a TCP port (1-65535), got 70000'],
    [
      { ports: { ...ports, history: { grpc: 1.5, membership: 6934 } } },
      'ports.history.grpc: must be a TCP port (1-65535), got 1.5',
    ],
    [
      { ports: { ...ports, worker: { grpc: 7239, membership: 41789 } } },
      "ports.worker.membership: must be at most 32767 (Temporal's SQL schema stores it as a smallint), got 41789",
    ],
    [{ historyShards: 0 }, 'historyShards: must be a positive integer, got 0'],
  ])('refuses %j, naming the field and the value', (bad, message) => {
    expect(() => temporalServerConfig({ ports, postgresPort: 5432, ...bad })).toThrow(message);
  });
});

describe('assignPorts', () => {
  it('gives each service its own gRPC and membership port, for any distinct ports', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { minLength: 8, maxLength: 8 }),
        (free) => {
          const p = assignPorts(free.slice(0, 4), free.slice(4));
          expect(TEMPORAL_SERVICES.map((s) => p[s].grpc)).toEqual(free.slice(0, 4));
          expect(TEMPORAL_SERVICES.map((s) => p[s].membership)).toEqual(free.slice(4));
        },
      ),
    );
  });

  it('refuses too few or repeated ports, naming them', () => {
    expect(() => assignPorts([1, 2, 3], [4, 5, 6, 7])).toThrow(
      'ports: need 4 gRPC and 4 membership ports, all distinct, got [1, 2, 3] and [4, 5, 6, 7]',
    );
    expect(() => assignPorts([1, 2, 3, 4], [4, 5, 6, 7])).toThrow('all distinct');
  });
});

describe('dynamicConfigYaml', () => {
  it('writes each key with one unconstrained value, as the server reads it', () => {
    expect(parse(dynamicConfigYaml({ 'limit.historyCount.suggestContinueAsNew': 50, 'a.b': true }))).toEqual({
      'limit.historyCount.suggestContinueAsNew': [{ value: 50 }],
      'a.b': [{ value: true }],
    });
  });
});
