// A temporary directory for a test file, removed when the file's tests are done, so runs do not
// leave ferry-* folders behind in the system's temp dir. Call it at the top level of a file
// (jest refuses hooks declared inside a test).
import { afterAll } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
