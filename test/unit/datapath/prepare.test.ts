// Copies of a restore point's large files made ahead of a commit (destination/prepare.ts): only
// large files the restore point holds are copied, byte for byte; a copy is handed out once and
// only for the restore point it was made from; copies nobody took are deleted.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MAX_PREPARED_PER_VOLUME, PreparedCopies } from '../../../datapath/destination/prepare.js';
import type { Manifest } from '../../../datapath/protocol/manifest.js';
import { PATCH_MIN_BYTES } from '../../../datapath/protocol/limits.js';
import { StageClock } from '../../../datapath/stages.js';
import { tempDir } from '../../harness/temp-dir.js';

const root = tempDir('ferry-prepare-');

function restorePoint(files: Record<string, Buffer>): { id: string; dir: string; manifest: Manifest } {
  const id = `rp-${crypto.randomBytes(4).toString('hex')}`;
  const dir = path.join(root, id);
  const entries: Manifest['entries'] = [];
  for (const [rel, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), data);
    entries.push({ path: rel, type: 'file', mode: 0o644, size: data.length, mtimeMs: 0, chunks: [] });
  }
  const manifest: Manifest = {
    version: 1,
    id,
    volume: 'v',
    parent: null,
    full: true,
    createdAt: new Date().toISOString(),
    hash: 'sha256',
    chunker: { min: 1, avg: 2, max: 4 },
    rootMode: 0o755,
    entries,
  };
  return { id, dir, manifest };
}

/** Lets queued copies start (a copy starts in a later turn than the request that asked for it). */
const started = (): Promise<void> => new Promise((r) => setImmediate(r));

const tmpFiles = (dir: string): string[] => fs.readdirSync(dir).filter((f) => f.startsWith('prepared.'));

describe('PreparedCopies', () => {
  const big = crypto.randomBytes(PATCH_MIN_BYTES + 4097); // not a whole number of 4 KiB blocks
  const other = crypto.randomBytes(2 * PATCH_MIN_BYTES);
  const small = crypto.randomBytes(PATCH_MIN_BYTES - 1);

  it('copies the large files named that the restore point holds, and hands each out once', async () => {
    const base = restorePoint({ 'db/data.db': big, 'db/other.db': other, 'small.txt': small });
    const tmp = fs.mkdtempSync(path.join(root, 'tmp-'));
    const stages = new StageClock();
    const copies = new PreparedCopies(stages);
    expect(copies.prepare('v', base, ['db/data.db', 'small.txt', 'missing.db', 'db/other.db'], tmp)).toBe(2);
    // Asking again for a file already being copied starts nothing.
    expect(copies.prepare('v', base, ['db/data.db'], tmp)).toBe(0);
    await started();
    expect(await copies.take('v', 'another-restore-point', 'db/data.db')).toBeNull();
    const file = await copies.take('v', base.id, 'db/data.db');
    expect(file).not.toBeNull();
    expect(fs.readFileSync(file as string).equals(big)).toBe(true);
    expect(await copies.take('v', base.id, 'db/data.db')).toBeNull();
    expect(await copies.take('v', base.id, 'small.txt')).toBeNull();
    expect(copies.pending('v')).toBe(1);
    // What nobody took is deleted; what was taken is the taker's.
    copies.discard('v');
    expect(copies.pending('v')).toBe(0);
    // Both copies count as the destination's write stage (the second one ends after the discard).
    const written = (): number | undefined => stages.totals().find((t) => t.stage === 'write')?.bytes;
    for (let i = 0; i < 100 && written() !== big.length + other.length; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(written()).toBe(big.length + other.length);
    for (let i = 0; i < 50 && tmpFiles(tmp).length > 1; i++) await new Promise((r) => setTimeout(r, 20));
    expect(tmpFiles(tmp)).toEqual([path.basename(file as string)]);
  });

  it('drops the copies of an older restore point when asked on a newer one', async () => {
    const tmp = fs.mkdtempSync(path.join(root, 'tmp-'));
    const copies = new PreparedCopies(new StageClock());
    const a = restorePoint({ 'f.db': big });
    const b = restorePoint({ 'f.db': other });
    expect(copies.prepare('v', a, ['f.db'], tmp)).toBe(1);
    expect(copies.prepare('v', b, ['f.db'], tmp)).toBe(1);
    await started();
    expect(await copies.take('v', a.id, 'f.db')).toBeNull();
    const file = await copies.take('v', b.id, 'f.db');
    expect(fs.readFileSync(file as string).equals(other)).toBe(true);
    for (let i = 0; i < 50 && tmpFiles(tmp).length > 1; i++) await new Promise((r) => setTimeout(r, 20));
    expect(tmpFiles(tmp)).toHaveLength(1);
  });

  it('hands out nothing for a copy that failed (its source vanished) and leaves no file', async () => {
    const tmp = fs.mkdtempSync(path.join(root, 'tmp-'));
    const copies = new PreparedCopies(new StageClock());
    const a = restorePoint({ 'gone.db': big });
    fs.rmSync(path.join(a.dir, 'gone.db'));
    expect(copies.prepare('v', a, ['gone.db'], tmp)).toBe(1);
    expect(await copies.take('v', a.id, 'gone.db')).toBeNull();
    expect(tmpFiles(tmp)).toEqual([]);
  });

  it(`copies at most ${MAX_PREPARED_PER_VOLUME} files per volume`, () => {
    const tmp = fs.mkdtempSync(path.join(root, 'tmp-'));
    const copies = new PreparedCopies(new StageClock());
    const many: Record<string, Buffer> = {};
    for (let i = 0; i < MAX_PREPARED_PER_VOLUME + 3; i++) many[`f${i}.db`] = big;
    const a = restorePoint(many);
    expect(copies.prepare('v', a, Object.keys(many), tmp)).toBe(MAX_PREPARED_PER_VOLUME);
    copies.discard('v');
  });

  it('deletes copies no commit took once the volume has been idle a while', async () => {
    const tmp = fs.mkdtempSync(path.join(root, 'tmp-'));
    const copies = new PreparedCopies(new StageClock(), 200);
    const a = restorePoint({ 'f.db': big });
    expect(copies.prepare('v', a, ['f.db'], tmp)).toBe(1);
    for (let i = 0; i < 100 && copies.pending('v') > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(copies.pending('v')).toBe(0);
    for (let i = 0; i < 50 && tmpFiles(tmp).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(tmpFiles(tmp)).toEqual([]);
    expect(await copies.take('v', a.id, 'f.db')).toBeNull();
  });

  it("gives up a copy still waiting behind another volume's copy: the commit copies sooner itself", async () => {
    const tmpA = fs.mkdtempSync(path.join(root, 'tmp-'));
    const tmpB = fs.mkdtempSync(path.join(root, 'tmp-'));
    const stages = new StageClock();
    const copies = new PreparedCopies(stages);
    const a = restorePoint({ 'a.db': other });
    const b = restorePoint({ 'b.db': big });
    expect(copies.prepare('a', a, ['a.db'], tmpA)).toBe(1);
    expect(copies.prepare('b', b, ['b.db'], tmpB)).toBe(1);
    expect(await copies.take('b', b.id, 'b.db')).toBeNull();
    const fileA = await copies.take('a', a.id, 'a.db');
    expect(fs.readFileSync(fileA as string).equals(other)).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(tmpFiles(tmpB)).toEqual([]);
    expect(stages.totals().find((t) => t.stage === 'write')?.bytes).toBe(other.length);
  });

  it("waits for a copy queued behind only its own volume's copies: it runs next", async () => {
    const tmp = fs.mkdtempSync(path.join(root, 'tmp-'));
    const copies = new PreparedCopies(new StageClock());
    const rp = restorePoint({ 'a.db': other, 'b.db': big });
    expect(copies.prepare('v', rp, ['a.db', 'b.db'], tmp)).toBe(2);
    // b.db's copy has not begun (a.db's runs first), and is taken first all the same
    const [fileB, fileA] = await Promise.all([
      copies.take('v', rp.id, 'b.db'),
      copies.take('v', rp.id, 'a.db'),
    ]);
    expect(fs.readFileSync(fileB as string).equals(big)).toBe(true);
    expect(fs.readFileSync(fileA as string).equals(other)).toBe(true);
    expect(copies.counts).toEqual({ started: 2, taken: 2 });
  });
});
