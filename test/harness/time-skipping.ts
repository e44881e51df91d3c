// Temporal's time-skipping test server (a JVM) for tests. The SDK's own launcher
// (TestWorkflowEnvironment.createTimeSkipping) gives the server a fixed 5 s to accept connections
// (sdk-core ephemeral_server: 50 tries, 100 ms apart) and kills it otherwise; on this shared,
// loaded machine the JVM often needs longer, three launches in a row failed that way. So the
// harness starts the JVM itself, waits for its port as long as it takes, and hands the running
// server to the SDK's environment with time skipping on.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { freePorts, waitForPort } from '../../localenv/ports.js';
import { startProcess } from '../../localenv/process.js';
import { ENV_DIR_VAR, harness } from './context.js';

const START_TIMEOUT_MS = 120_000;

/** The options of the SDK's (private) TestWorkflowEnvironment.create that this uses. */
interface CreateOptions {
  server: { type: 'existing' };
  address: string;
  namespace: string;
  supportsTimeSkipping: true;
}

/** A time-skipping environment on a test server of its own; teardown also stops the server. */
export async function startTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const [port] = (await freePorts(1)) as [number];
  const dir = process.env[ENV_DIR_VAR]!;
  // The run's reaper list (localenv/reaper.ts), so the server dies with the run even if jest is killed.
  const pidFile = readdirSync(dir).find((f) => /^pids\.\d+$/.test(f));
  const server = startProcess({
    name: 'temporal-test-server',
    command: harness().testServerBin,
    args: [String(port)],
    logPath: path.join(dir, `temporal-test-server-${port}.log`),
    ...(pidFile ? { pidFile: path.join(dir, pidFile) } : {}),
  });
  try {
    await Promise.race([
      waitForPort(port, START_TIMEOUT_MS),
      server.exited.then((code) => {
        throw new Error(
          `the time-skipping test server exited (${code}) before listening; see ${server.logPath}`,
        );
      }),
    ]);
    const create = (
      TestWorkflowEnvironment as unknown as { create(o: CreateOptions): Promise<TestWorkflowEnvironment> }
    ).create;
    const env = await create.call(TestWorkflowEnvironment, {
      server: { type: 'existing' },
      address: `127.0.0.1:${port}`,
      namespace: 'default',
      supportsTimeSkipping: true,
    });
    const teardown = env.teardown.bind(env);
    env.teardown = async () => {
      await teardown();
      await server.stop();
    };
    return env;
  } catch (err) {
    await server.stop();
    throw err;
  }
}
