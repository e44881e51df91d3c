// The SDK in one file (docs/sdk.md): start a migration without a CR, follow its progress to the
// end, then read a schedule's status if one is named. Connects as `ferry worker` does, from
// TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, FERRY_TASK_QUEUE (and the TLS / API key twins).
//
//   node dist/client/examples/migrate-and-follow.js NAMESPACE MIGRATION CLUSTERPAIR [SCHEDULE]
//
// Exit 0 when the migration ends Successful, 1 otherwise.

import { FerryClient } from '../sdk.js';

async function main(): Promise<number> {
  const [namespace, name, clusterPair, schedule] = process.argv.slice(2);
  if (!namespace || !name || !clusterPair) {
    process.stderr.write('usage: migrate-and-follow NAMESPACE MIGRATION CLUSTERPAIR [SCHEDULE]\n');
    return 1;
  }
  const ferry = await FerryClient.connect();
  try {
    const id = await ferry.startMigration(namespace, name, { clusterPair, namespaces: [namespace] });
    process.stdout.write(`started ${id}\n`);
    let last = '';
    for await (const p of ferry.migrationProgress(namespace, name, { intervalMs: 500 })) {
      const line = `${p.status.stage || 'Pending'} ${p.status.status}`;
      if (line !== last) process.stdout.write(`${line}\n`);
      last = line;
      if (p.final) {
        const bytes = p.volumes.reduce((n, v) => n + v.bytesDone, 0);
        process.stdout.write(`final ${p.status.status}: ${p.volumes.length} volumes, ${bytes} bytes\n`);
      }
    }
    if (schedule) {
      const s = await ferry.scheduleStatus(namespace, schedule);
      process.stdout.write(
        `schedule ${schedule}: next trigger ${s.nextTrigger ?? 'none'}, ${s.counts.succeeded} succeeded\n`,
      );
    }
    const status = await ferry.migrationStatus(namespace, name);
    return status.status === 'Successful' ? 0 : 1;
  } finally {
    await ferry.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
