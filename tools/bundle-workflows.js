// Writes the Temporal workflow bundle of a built checkout (dist/), so a worker started with
// `--workflow-bundle FILE` skips bundling at start (the Dockerfile runs this at build time).
//
//   node tools/bundle-workflows.js dist/workflow-bundle.js
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: node tools/bundle-workflows.js OUT.js\n');
  process.exit(1);
}
const { bundleWorkflows } = await import(path.join(root, 'dist', 'workers', 'workflow-bundle.js'));
const bundle = await bundleWorkflows(path.join(root, 'dist', 'workflows', 'index.js'));
await writeFile(out, bundle.code);
process.stdout.write(`wrote ${out} (${Math.round(bundle.code.length / 1024)} KiB)\n`);
