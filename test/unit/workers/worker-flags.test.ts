// `ferry worker` flags: flags win over their environment twins, defaults as documented, and every
// bad value is refused naming the flag and the value.
import { parseWorkerFlags } from '../../../workers/worker.js';

const base = ['--agent-url', 'https://127.0.0.1:9001', '--agent-token-file', '/t'];

describe('ferry worker flags', () => {
  it('defaults', () => {
    expect(parseWorkerFlags(base, {})).toEqual({
      kubeconfig: undefined,
      context: undefined,
      agentUrl: 'https://127.0.0.1:9001',
      agentTokenFile: '/t',
      agentCaFile: undefined,
      temporalAddress: 'localhost:7233',
      namespace: 'default',
      taskQueue: 'ferry',
      apiKeyFile: undefined,
      httpHost: '127.0.0.1',
      httpPort: 9090,
      workflowBundle: undefined,
      drainSeconds: 30,
      logLevel: 'info',
      maxCachedWorkflows: 500,
      maxConcurrentWorkflowTasks: 40,
      maxConcurrentActivities: 100,
      transferStallSeconds: 300,
    });
  });

  it('environment twins, and flags over them', () => {
    const env = {
      TEMPORAL_ADDRESS: 'temporal:7233',
      TEMPORAL_NAMESPACE: 'dr',
      FERRY_TASK_QUEUE: 'ferry-east',
      KUBECONFIG: '/k',
      FERRY_AGENT_URL: 'https://agent:9001',
      FERRY_AGENT_TOKEN_FILE: '/env-token',
      TEMPORAL_TLS_CA: '/ca',
    };
    const c = parseWorkerFlags(['--namespace', 'prod', '--http-listen', '[::1]:0'], env);
    expect(c).toMatchObject({
      temporalAddress: 'temporal:7233',
      namespace: 'prod',
      taskQueue: 'ferry-east',
      kubeconfig: '/k',
      agentUrl: 'https://agent:9001',
      agentTokenFile: '/env-token',
      tls: { ca: '/ca' },
      httpHost: '::1',
      httpPort: 0,
    });
  });

  it('sizes the sticky cache and the task slots', () => {
    const c = parseWorkerFlags(
      [
        ...base,
        '--max-cached-workflows=2500',
        '--max-concurrent-workflow-tasks',
        '8',
        '--max-concurrent-activities',
        '50',
      ],
      {},
    );
    expect(c).toMatchObject({
      maxCachedWorkflows: 2500,
      maxConcurrentWorkflowTasks: 8,
      maxConcurrentActivities: 50,
    });
  });

  it.each([
    [[], '--agent-url (or FERRY_AGENT_URL) is required'],
    [['--agent-url', 'u'], '--agent-token-file (or FERRY_AGENT_TOKEN_FILE) is required'],
    [
      [...base, '--http-listen', 'localhost'],
      '--http-listen "localhost": expected HOST:PORT with a port in 0..65535',
    ],
    [
      [...base, '--http-listen', ':99999'],
      '--http-listen ":99999": expected HOST:PORT with a port in 0..65535',
    ],
    [[...base, '--drain-seconds', '-1'], '--drain-seconds "-1": expected a whole number of seconds'],
    [[...base, '--log-level', 'chatty'], '--log-level "chatty": expected debug, info, warn or error'],
    [[...base, '--temporal-tls-cert', '/c'], '--temporal-tls-cert and --temporal-tls-key go together'],
    [[...base, '--max-cached-workflows', '1e3'], '--max-cached-workflows "1e3": expected a whole number ≥ 0'],
    [
      [...base, '--max-concurrent-workflow-tasks=1'],
      '--max-concurrent-workflow-tasks "1": expected a whole number ≥ 2',
    ],
    [
      [...base, '--max-concurrent-activities', '0'],
      '--max-concurrent-activities "0": expected a whole number ≥ 1',
    ],
    [[...base, '--transfer-stall-seconds', '0'], '--transfer-stall-seconds "0": expected a whole number ≥ 1'],
    [[...base, 'extra'], 'unexpected argument "extra"'],
    [[...base, '--task-queu', 'x'], 'unknown flag: --task-queu'],
  ])('%j is refused: %s', (argv, message) => {
    expect(() => parseWorkerFlags(argv, {})).toThrow(message);
  });
});
