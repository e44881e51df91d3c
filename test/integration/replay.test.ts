// Determinism: every history recorded from a real run (test/fixtures/histories/, written by
// `npm run record:histories` from the time-skipping schedule runs and the dev-server schedule and
// migration) is replayed against the current workflow code. A change that makes the code issue
// different commands for the same history (a new activity before an old one, a changed timer, a
// removed child start) fails here instead of in production, where it would stall every running
// schedule.
import { jest } from '@jest/globals';
import { Worker } from '@temporalio/worker';
import { readdirSync } from 'node:fs';
import { harness } from '../harness/context.js';
import { HISTORIES_DIR, loadHistory } from '../harness/histories.js';

jest.setTimeout(120_000);

const files = readdirSync(HISTORIES_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

it('histories of schedules and migrations, time-skipping and dev server, are recorded', () => {
  expect(files).toEqual(
    expect.arrayContaining([
      'migration-dev-server.json',
      'schedule-dev-server.json',
      'schedule-continued-as-new.json',
      'schedule-auto-suspend.json',
      'schedule-updates.json',
    ]),
  );
});

it.each(files)('%s replays against the current workflow code', async (file) => {
  const history = await loadHistory(file);
  expect(history.events!.length).toBeGreaterThan(10);
  await Worker.runReplayHistory(
    { workflowBundle: { codePath: harness().workflowBundlePath } },
    history,
    `replay-${file}`,
  );
});
