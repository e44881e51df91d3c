import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { EnvironmentState } from '../../localenv/environment.js';

/** What the global setup (global-setup.js) hands to integration tests, in <env dir>/harness.json. */
export interface HarnessContext {
  env: EnvironmentState;
  /** The workflow bundle (test/fixtures/workflows.ts), built once per run. */
  workflowBundlePath: string;
  /** Wrapper that execs Temporal's Java test server with time skipping. */
  testServerBin: string;
}

export const HARNESS_FILE = 'harness.json';
export const ENV_DIR_VAR = 'FERRY_TEST_ENV_DIR';

/** The shared environment of this test run; fails with a clear message outside the harness. */
export function harness(): HarnessContext {
  const dir = process.env[ENV_DIR_VAR];
  if (!dir)
    throw new Error(`${ENV_DIR_VAR} is not set: run integration tests through jest's integration project`);
  return JSON.parse(readFileSync(path.join(dir, HARNESS_FILE), 'utf8')) as HarnessContext;
}
