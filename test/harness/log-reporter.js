// A jest reporter that, when an integration test failed, lists the server logs to read.
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';

export default class LogReporter {
  onRunComplete(_contexts, results) {
    const dir = process.env.FERRY_TEST_ENV_DIR;
    if (!dir || results.numFailedTests === 0) return;
    const file = path.join(dir, 'state.json');
    if (!existsSync(file)) return;
    const state = JSON.parse(readFileSync(file, 'utf8'));
    const logs = [state.temporal.logPath, ...Object.values(state.clusters).flatMap((c) => c.logPaths)];
    process.stderr.write(
      `\nServer logs of this run (kept after it):\n${logs.map((l) => `  ${l}`).join('\n')}\n`,
    );
  }
}
