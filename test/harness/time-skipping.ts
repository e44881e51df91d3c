// Temporal's time-skipping test server (a JVM) for tests, started through the SDK. The SDK gives
// the server a fixed 5 s to accept connections (sdk-core ephemeral_server: 50 tries, 100 ms apart)
// and kills it otherwise; on a loaded machine the JVM can take longer than that to start, so a
// start that fails that way is retried.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { harness } from './context.js';

const ATTEMPTS = 3;

export async function startTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  let last: unknown;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      return await TestWorkflowEnvironment.createTimeSkipping({
        server: { executable: { type: 'existing-path', path: harness().testServerBin } },
      });
    } catch (err) {
      if (!/did not start within/.test(String(err))) throw err;
      last = err;
      process.stderr.write(
        `[time-skipping] the test server did not start in 5 s (attempt ${attempt}), retrying\n`,
      );
    }
  }
  throw new Error(`the time-skipping test server did not start in ${ATTEMPTS} attempts: ${String(last)}`);
}
