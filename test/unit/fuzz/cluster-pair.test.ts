// Fuzzing ClusterPair kubeconfigs on both sides: `storkctl generate clusterpair` reading a
// kubeconfig (client/cluster-pair.ts) and the worker reading a ClusterPair CR
// (activities/cluster-pair.ts). Mutated kubeconfigs, with file references, exec plugins and auth
// providers injected: the client fails only with a ClusterError; the worker fails only with a
// non-retryable ClusterPairError naming spec.config or spec.options, and never accepts a pair
// that would run a program or read a file on the worker.
import { ApplicationFailure } from '@temporalio/common';
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseClusterPair } from '../../../activities/cluster-pair.js';
import { clusterPairManifest } from '../../../client/cluster-pair.js';
import { ClusterError, loadKubeConfig } from '../../../client/cluster.js';
import { fuzzParams, mutate, mutation, oddValue } from '../../fuzz.js';

const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64');
const base = {
  apiVersion: 'v1',
  kind: 'Config',
  clusters: [
    { name: 'standby', cluster: { server: 'https://10.0.0.5:6443', 'certificate-authority-data': CA } },
  ],
  users: [{ name: 'admin', user: { token: 'abc123' } }],
  contexts: [{ name: 'ctx', context: { cluster: 'standby', user: 'admin', namespace: 'ns' } }],
  'current-context': 'ctx',
};
const LOCAL: Array<[section: 'users' | 'clusters', field: string, value: unknown]> = [
  [
    'users',
    'exec',
    { command: '/bin/sh', args: ['-c', 'id'], apiVersion: 'client.authentication.k8s.io/v1' },
  ],
  ['users', 'auth-provider', { name: 'gcp', config: { 'cmd-path': '/bin/sh' } }],
  ['users', 'token-file', '/var/run/secrets/kubernetes.io/serviceaccount/token'],
  ['users', 'client-certificate', '/etc/ferry/agent.crt'],
  ['users', 'client-key', '/etc/ferry/agent.key'],
  ['clusters', 'certificate-authority', '/etc/passwd'],
];
const local = fc.option(fc.constantFrom(...LOCAL), { nil: undefined, freq: 3 });

/** Puts the local reference into the first user or cluster; returns whether there was one to put it in. */
function inject(config: unknown, ref: (typeof LOCAL)[number] | undefined): boolean {
  if (!ref || typeof config !== 'object' || config === null) return false;
  const [section, field, value] = ref;
  const list = (config as Record<string, unknown>)[section];
  const entry = Array.isArray(list) ? (list[0] as Record<string, unknown> | undefined) : undefined;
  const inner = entry?.[section === 'users' ? 'user' : 'cluster'];
  if (!inner || typeof inner !== 'object' || Array.isArray(inner)) return false;
  (inner as Record<string, unknown>)[field] = value;
  return true;
}

const REF = { namespace: 'ns', name: 'remote' };

function expectPairError(err: unknown): void {
  expect(err).toBeInstanceOf(ApplicationFailure);
  const f = err as ApplicationFailure;
  expect(f.type).toBe('ClusterPairError');
  expect(f.nonRetryable).toBe(true);
  expect(f.message).toMatch(/^ClusterPair ns\/remote: spec\.(config|options)/);
}

it('the worker: a pair is parsed or refused naming the field, and local references are always refused', () => {
  const counts = { accepted: 0, refused: 0, localRefused: 0 };
  fc.assert(
    fc.property(
      fc.array(mutation, { maxLength: 3 }),
      local,
      fc.dictionary(fc.constantFrom('ip', 'port', 'token', 'caCert', 'mode', 'x'), oddValue, { maxKeys: 4 }),
      (ms, ref, options) => {
        const config = mutate(base, ms);
        const injected = inject(config, ref);
        const cp = { metadata: { uid: 'u1' }, spec: { config, options } };
        try {
          const pair = parseClusterPair(REF, cp);
          counts.accepted++;
          expect(injected).toBe(false);
          expect(pair.uid).toBe('u1');
          if (pair.destination) expect(pair.destination.url).toMatch(/^https:\/\//);
        } catch (err) {
          counts.refused++;
          expectPairError(err);
          if (injected && ref) {
            counts.localRefused++;
            expect((err as Error).message).toContain(`.${ref[1]}`);
          }
        }
      },
    ),
    fuzzParams(1000),
  );
  expect(counts.accepted).toBeGreaterThan(0);
  expect(counts.localRefused).toBeGreaterThan(0);
});

describe('the client (generate clusterpair)', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-fuzz-kc-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a kubeconfig into a pair the worker accepts, or fails with a ClusterError', () => {
    let n = 0;
    const counts = { made: 0, refused: 0 };
    fc.assert(
      fc.property(
        fc.array(mutation, { maxLength: 3 }),
        fc.oneof(local, fc.constant(undefined)),
        (ms, ref) => {
          const file = path.join(dir, `kc-${n++}`);
          // File references name a file that exists (this one), so the client can inline them.
          const config = mutate(base, ms);
          inject(config, ref && typeof ref[2] === 'string' ? [ref[0], ref[1], file] : ref);
          writeFileSync(file, JSON.stringify(config));
          let manifest: Record<string, unknown>;
          try {
            manifest = clusterPairManifest('remote', 'ns', loadKubeConfig({ kubeconfig: file }), {
              ip: '10.0.0.6',
              token: 't',
            });
          } catch (err) {
            counts.refused++;
            expect(err).toBeInstanceOf(ClusterError);
            return;
          }
          counts.made++;
          // Whatever generate writes, the worker never refuses for a local reference.
          try {
            parseClusterPair(REF, manifest);
          } catch (err) {
            expectPairError(err);
            expect((err as Error).message).not.toContain('refused: a ClusterPair');
          }
        },
      ),
      fuzzParams(500),
    );
    expect(counts.made).toBeGreaterThan(0);
    expect(counts.refused).toBeGreaterThan(0);
  });
});
