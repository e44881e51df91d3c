// `activate` / `deactivate migrations` as a user types them: help and every usage error, which
// are decided before any cluster or agent is reached.
import { lines, run } from './run.js';

beforeEach(() => {
  for (const v of ['FERRY_AGENT_URL', 'FERRY_AGENT_TOKEN_FILE', 'FERRY_AGENT_CA_FILE']) delete process.env[v];
});

describe('storkctl activate / deactivate migrations', () => {
  it.each([
    [['activate', '--help'], 'storkctl activate migrations (-n NAMESPACE | -a)'],
    [['help', 'activate'], 'a volume without a restore point refuses the whole activation'],
    [['deactivate', '-h'], 'storkctl deactivate migrations (-n NAMESPACE | -a)'],
    [['help', 'deactivate'], 'Undo an activation'],
  ])('%j prints help', async (argv, text) => {
    const r = await run(argv, 'storkctl');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(text);
    expect(r.stdout).toContain('--agent-token-file FILE');
  });

  it('is listed in the main help', async () => {
    const r = await run(['--help'], 'storkctl');
    expect(r.stdout).toMatch(/^ {2}activate +Fail over/m);
    expect(r.stdout).toMatch(/^ {2}deactivate +Stop migrated apps/m);
  });

  it.each([
    [['activate'], 'error: what to activate is missing: activate migrations -n NAMESPACE', 'activate'],
    [['deactivate', 'pods'], 'error: cannot deactivate "pods": only migrations', 'deactivate'],
    [['activate', 'migrations', 'extra'], 'error: unexpected argument "extra"', 'activate'],
    [
      ['activate', 'migrations', '-n', 'a', '-a'],
      'error: -n/--namespace and -a/--all-namespaces: give one of them',
      'activate',
    ],
    [
      ['activate', 'migrations', '-A', '--namespace=a'],
      'error: -n/--namespace and -a/--all-namespaces: give one of them',
      'activate',
    ],
    [
      ['activate', 'migrations', '-n', 'a', '--agent-url', 'https://127.0.0.1:9001'],
      'error: --agent-url needs --agent-token-file (or $FERRY_AGENT_TOKEN_FILE)',
      'activate',
    ],
    [['activate', 'migrations', '-x'], 'error: unknown flag: -x', 'activate'],
    [
      ['activate', 'migrations', '-a=maybe'],
      'error: invalid value "maybe" for -a: must be true or false',
      'activate',
    ],
  ])('%j is a usage error', async (argv, message, command) => {
    const r = await run(argv, 'storkctl');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toEqual([message, `Run 'storkctl ${command} --help' for usage.`]);
  });

  it('a kubeconfig that cannot be read is an error, not a crash', async () => {
    const r = await run(
      ['deactivate', 'migrations', '-a', '--kubeconfig', '/nonexistent/kubeconfig'],
      'storkctl',
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: cannot load kubeconfig \/nonexistent\/kubeconfig: /);
  });

  it('FERRY_AGENT_URL without a token file is the same usage error', async () => {
    process.env['FERRY_AGENT_URL'] = 'https://127.0.0.1:9001';
    const r = await run(['activate', 'migrations', '-n', 'a'], 'storkctl');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--agent-url needs --agent-token-file');
  });
});
