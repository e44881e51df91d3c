// The Temporal Web UI of the dev server, in a real headless Chromium (Debian's `chromium`, driven
// by puppeteer-core): a Migration run by the real worker shows there under its id, Completed,
// with its summary. The page is saved in the run's environment folder, and as
// docs/ui-migration.png (which README.md shows) when FERRY_UPDATE_DOCS=1, so that ordinary runs
// leave the checkout unchanged.
import { jest } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { launch, type Browser, type Page } from 'puppeteer-core';
import { repoRoot } from '../../localenv/paths.js';
import { migrationYaml } from '../fixtures/apps/shop.js';
import { harness } from '../harness/context.js';
import { startDrWorld, type DrWorld } from '../harness/dr-world.js';

jest.setTimeout(180_000);

const CHROMIUM = process.env['FERRY_CHROMIUM'] ?? '/usr/bin/chromium';
const NS = 'webui';
const SCREENSHOTS = [
  path.join(harness().env.dir, 'ui-migration.png'),
  ...(process.env['FERRY_UPDATE_DOCS'] === '1' ? [path.join(repoRoot(), 'docs', 'ui-migration.png')] : []),
];

let world: DrWorld;
let browser: Browser;

beforeAll(async () => {
  world = await startDrWorld('webui');
  await world.kubectl('source', ['create', 'namespace', NS]);
  await world.kubectl('source', [
    'create',
    'configmap',
    '-n',
    NS,
    'settings',
    '--from-literal=mode=production',
  ]);
  await world.kubectl('source', ['apply', '-f', '-'], await world.clusterPairYaml(NS, 'remote'));
  browser = await launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
});

afterAll(async () => {
  await browser?.close();
  await world?.stop();
});

/** Runs in the browser (the project's types have no DOM, hence a string). */
const INNER_TEXT = '(document.body && document.body.innerText) || ""';

/** The page's visible text, and that of the frames the UI renders markdown (summaries) in. */
async function texts(page: Page): Promise<string> {
  const all = await Promise.all(page.frames().map((f) => f.evaluate(INNER_TEXT).catch(() => '')));
  return all.join('\n');
}

/** The Temporal UI's own error page ("500 Internal Error"), shown when one of its API calls failed. */
const UI_ERROR = /\b(500|502|503)\b[\s\S]{0,40}\bError\b/;

/** The end of the dev server's log (its Web UI logs there too), for a failure's message. */
function serverLogTail(bytes = 4000): string {
  const file = harness().env.temporal.logPath;
  try {
    const text = fs.readFileSync(file, 'utf8');
    return `\n--- ${file} (last ${bytes} bytes) ---\n${text.slice(-bytes)}`;
  } catch {
    return `\n(no ${file})`;
  }
}

/**
 * Waits until the page (or its frames) shows every string of `want`. The UI loads its data after
 * the page; when a call of it failed, it shows its error page and stays there, so that page is
 * reloaded (at most every 3 s) instead of waited on.
 */
async function waitForText(page: Page, want: string[], timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  let reloads = 0;
  let lastReload = Date.now();
  while (Date.now() < deadline) {
    text = await texts(page);
    if (want.every((w) => text.includes(w))) return text;
    if (UI_ERROR.test(text) && Date.now() - lastReload >= 3_000) {
      reloads += 1;
      lastReload = Date.now();
      await page.reload({ waitUntil: 'domcontentloaded' }).catch(() => undefined);
      continue;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `the page never showed ${JSON.stringify(want)} (reloaded ${reloads} times on the UI's error page); ` +
      `it shows:\n${text.slice(0, 2000)}${serverLogTail()}`,
  );
}

it('shows a finished Migration with its id and summary, and takes its screenshot', async () => {
  const uiUrl = harness().env.temporal.uiUrl;
  expect(uiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  await world.kubectl(
    'source',
    ['apply', '-f', '-'],
    migrationYaml(NS, 'nightly', { clusterPair: 'remote', namespaces: [NS] }),
  );
  const cr = (await world.waitForMigration(NS, 'nightly')) as { status: { status: string } };
  expect(cr.status.status).toBe('Successful');
  const workflowId = `migration/${NS}/nightly`;
  const { runId } = await world.temporal.workflow.getHandle(workflowId).describe();
  const base = `${uiUrl}/namespaces/${harness().env.temporal.namespace}/workflows/${encodeURIComponent(workflowId)}/${runId}`;

  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 1000 });
  // Its user metadata: the summary the controller gave the workflow.
  await page.goto(`${base}/user-metadata`, { waitUntil: 'domcontentloaded' });
  await waitForText(page, [workflowId, 'Completed', `Migration ${NS}/nightly to ClusterPair remote`]);

  // Its history: the result is the Migration's final status.
  await page.goto(`${base}/history`, { waitUntil: 'domcontentloaded' });
  const text = await waitForText(page, [
    workflowId,
    'Completed',
    'migrationWorkflow',
    world.taskQueue,
    '"Successful"',
  ]);
  expect(text).toContain(runId);
  const png = Buffer.from(await page.screenshot({ type: 'png' }));
  await page.close();
  // A PNG of the viewport: signature, then IHDR's width and height.
  expect(png.subarray(1, 4).toString()).toBe('PNG');
  expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1400, 1000]);
  for (const file of SCREENSHOTS) fs.writeFileSync(file, png);
});
