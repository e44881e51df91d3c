// Writes deploy/crds/<plural>.<group>.yaml from the schemas.
// Usage (from the repository root): npm run gen:crds   or   node dist/api/crds-generate.js [DIR]
// A unit test asserts the committed files equal this output.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderCrdFiles } from './crds.js';

export function writeCrdFiles(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  return renderCrdFiles().map(({ file, text }) => {
    const path = join(dir, file);
    writeFileSync(path, text);
    return path;
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const path of writeCrdFiles(process.argv[2] ?? 'deploy/crds')) process.stdout.write(`wrote ${path}\n`);
}
