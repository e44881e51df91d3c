// Workflow histories recorded from real runs, for the replay test (test/integration/replay.test.ts):
// with FERRY_RECORD_HISTORIES=1 (`npm run record:histories`), the tests that call recordHistory
// save the history of the workflow they ran to test/fixtures/histories/<name>.json, as
// `temporal workflow show -o json` writes it; otherwise recordHistory does nothing.
import proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root.js';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { repoRoot } from '../../localenv/paths.js';
import { harness } from './context.js';

export const HISTORIES_DIR = path.join(repoRoot(), 'test', 'fixtures', 'histories');

export const recording = (): boolean => process.env['FERRY_RECORD_HISTORIES'] === '1';

/**
 * Saves the history of `workflowId` (its latest run, or `runId`) on the Temporal at `address` as
 * `<name>.json` when recording, through the real temporal CLI (`workflow show -o json`, payloads raw).
 */
export async function recordHistory(
  address: string,
  workflowId: string,
  name: string,
  runId?: string,
): Promise<void> {
  if (!recording()) return;
  const { env } = harness();
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      env.bins.temporal!,
      ['workflow', 'show', '-w', workflowId, ...(runId ? ['-r', runId] : [])]
        .concat(['--address', address, '--namespace', 'default'])
        .concat(['--output', 'json', '--no-json-shorthand-payloads']),
      { timeout: 60_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`temporal workflow show: ${stderr}`)) : resolve(stdout),
    ),
  );
  const history = JSON.parse(out) as { events: unknown[] };
  await mkdir(HISTORIES_DIR, { recursive: true });
  await writeFile(path.join(HISTORIES_DIR, `${name}.json`), `${JSON.stringify(history, null, 1)}\n`);
  process.stderr.write(`[histories] recorded ${name} (${history.events.length} events)\n`);
}

/**
 * A recorded history as the History object Worker.runReplayHistory takes. The SDK's own JSON
 * loader (historyFromJSON) fails with this lockfile ("type must be a Type": @temporalio/common
 * and @temporalio/proto each nest their own protobufjs 8.8.1), so the JSON is read with the
 * protobufjs copy that @temporalio/proto's types belong to.
 */
export async function loadHistory(file: string): Promise<proto.temporal.api.history.v1.IHistory> {
  const json = JSON.parse(await readFile(path.join(HISTORIES_DIR, file), 'utf8')) as unknown;
  const fromProto = createRequire(createRequire(import.meta.url).resolve('@temporalio/proto'));
  const { fromJson } = fromProto('protobufjs/ext/protojson') as {
    fromJson: (type: unknown, json: unknown, opts: object) => proto.temporal.api.history.v1.IHistory;
  };
  // The generated types lack lookupType, which the patched root has.
  const root = patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown };
  const type = root.lookupType('temporal.api.history.v1.History');
  return fromJson(type, json, { ignoreUnknownFields: true });
}
