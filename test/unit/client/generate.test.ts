// `generate clusterpair`: the standby's kubeconfig, cut to its current context with every file
// it names inlined, and the agent's options; the result validates as a ClusterPair.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { validateObject } from '../../../api/index.js';
import { tempDir } from '../../harness/temp-dir.js';
import { lines, run } from './run.js';

const dir = tempDir('ferry-generate-');
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
const ca = file('ca.crt', '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n');
const cert = file('client.crt', 'CLIENT CERT');
const key = file('client.key', 'CLIENT KEY');
const agentCa = file('agent-ca.crt', '-----BEGIN CERTIFICATE-----\nAGENT\n-----END CERTIFICATE-----\n');
const token = file('agent.token', 's3cr3t-token\n');
const kubeconfig = file(
  'kubeconfig',
  `apiVersion: v1
kind: Config
clusters:
- name: standby
  cluster: {server: "https://10.0.0.9:6443", certificate-authority: ${ca}}
- name: other
  cluster: {server: "https://other:6443"}
users:
- name: admin
  user: {client-certificate: ${cert}, client-key: ${key}}
- name: nobody
  user: {token: unused}
contexts:
- name: standby
  context: {cluster: standby, user: admin, namespace: apps}
- name: other
  context: {cluster: other, user: nobody}
current-context: standby
`,
);
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('generate clusterpair', () => {
  it('inlines the current context and every file it names, with the agent options', async () => {
    const r = await run(
      [
        'generate',
        'clusterpair',
        'remote',
        '-n',
        'mysql',
        '--kubeconfig',
        kubeconfig,
        '--ip',
        '10.0.0.5',
        '--port',
        '9001',
        '--token-file',
        token,
        '--ca-file',
        agentCa,
      ],
      'storkctl',
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const pair = parse(r.stdout);
    expect(pair).toEqual({
      apiVersion: 'stork.libopenstorage.org/v1alpha1',
      kind: 'ClusterPair',
      metadata: { name: 'remote', namespace: 'mysql' },
      spec: {
        config: {
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [
            {
              name: 'standby',
              cluster: {
                server: 'https://10.0.0.9:6443',
                'certificate-authority-data': b64(
                  '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n',
                ),
              },
            },
          ],
          users: [
            {
              name: 'admin',
              user: { 'client-certificate-data': b64('CLIENT CERT'), 'client-key-data': b64('CLIENT KEY') },
            },
          ],
          contexts: [{ name: 'standby', context: { cluster: 'standby', user: 'admin', namespace: 'apps' } }],
          'current-context': 'standby',
        },
        options: {
          ip: '10.0.0.5',
          port: '9001',
          token: 's3cr3t-token',
          caCert: b64('-----BEGIN CERTIFICATE-----\nAGENT\n-----END CERTIFICATE-----\n'),
          mode: 'DisasterRecovery',
        },
      },
    });
    expect(validateObject(pair).issues.filter((i) => i.severity === 'error')).toEqual([]);
  });

  it('uses another context when asked, placeholders without agent flags, and migration mode', async () => {
    const r = await run([
      'generate',
      'cp',
      'p',
      '--kubeconfig',
      kubeconfig,
      '--context',
      'other',
      '--mode',
      'migration',
      '-o',
      'json',
    ]);
    expect(r.code).toBe(0);
    const pair = JSON.parse(r.stdout);
    expect(pair.metadata).toEqual({ name: 'p', namespace: 'default' });
    expect(pair.spec.config.clusters).toEqual([{ name: 'other', cluster: { server: 'https://other:6443' } }]);
    expect(pair.spec.config.users).toEqual([{ name: 'nobody', user: { token: 'unused' } }]);
    expect(pair.spec.options).toEqual({
      ip: '<ip of the destination storage agent>',
      port: '9001',
      token: '<token of the destination storage agent>',
    });
    // ferry validate warns about the placeholders.
    expect(validateObject(pair).issues.map((i) => i.message)).toEqual(
      expect.arrayContaining([expect.stringMatching(/looks like a placeholder/)]),
    );
  });

  it.each([
    [['generate'], 'error: what to generate is missing: generate clusterpair NAME'],
    [['generate', 'migration', 'x'], 'error: cannot generate "migration": only clusterpair'],
    [['generate', 'clusterpair'], 'error: the ClusterPair name is missing: generate clusterpair NAME'],
    [
      ['generate', 'clusterpair', 'x', '--kubeconfig', kubeconfig, '--mode', 'sync'],
      'error: --mode "sync": expected async-dr or migration',
    ],
    [
      ['generate', 'clusterpair', 'x', '--kubeconfig', kubeconfig, '--token', 'a', '--token-file', token],
      'error: --token and --token-file: give one of them',
    ],
    [
      ['generate', 'clusterpair', 'x', '--kubeconfig', kubeconfig, '--ca-file', join(dir, 'missing.crt')],
      `error: --ca-file ${join(dir, 'missing.crt')}: ENOENT`,
    ],
    [
      ['generate', 'clusterpair', 'x', '--kubeconfig', kubeconfig, '-o', 'wide'],
      'error: invalid value "wide" for -o/--output: allowed formats are json, yaml',
    ],
  ])('%j fails with a usage error naming the problem', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)[0]).toBe(message);
    expect(r.stdout).toBe('');
  });
});
