import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { linkFiles, removeTree } from '../../../datapath/fs-thread.js';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-remover-'));
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

/** `files` files of 1 KiB in `dirs` folders under `dir`. */
function grow(dir: string, dirs: number, files: number): void {
  const body = Buffer.alloc(1024, 7);
  for (let d = 0; d < dirs; d++) fs.mkdirSync(path.join(dir, `d${d}`, 'sub'), { recursive: true });
  for (let f = 0; f < files; f++) fs.writeFileSync(path.join(dir, `d${f % dirs}`, 'sub', `f${f}`), body);
}

describe('removeTree', () => {
  it('removes a whole tree, read-only folders included, without following symlinks', async () => {
    const tree = path.join(root, 'rp');
    grow(tree, 3, 30);
    const outside = path.join(root, 'keep.txt');
    fs.writeFileSync(outside, 'stays');
    fs.mkdirSync(path.join(root, 'keep-dir'));
    fs.writeFileSync(path.join(root, 'keep-dir', 'x'), 'stays too');
    fs.symlinkSync(outside, path.join(tree, 'd0', 'to-file'));
    fs.symlinkSync(path.join(root, 'keep-dir'), path.join(tree, 'd1', 'to-dir'));
    fs.symlinkSync('nowhere', path.join(tree, 'dangling'));
    fs.chmodSync(path.join(tree, 'd2', 'sub'), 0o500);
    fs.chmodSync(path.join(tree, 'd2'), 0o000);

    await removeTree(tree);

    expect(fs.existsSync(tree)).toBe(false);
    expect(fs.readFileSync(outside, 'utf8')).toBe('stays');
    expect(fs.readFileSync(path.join(root, 'keep-dir', 'x'), 'utf8')).toBe('stays too');
    expect(fs.readdirSync(root).sort()).toEqual(['keep-dir', 'keep.txt']);
  });

  it('treats a missing path as removed and unlinks a plain file', async () => {
    await expect(removeTree(path.join(root, 'never-there'))).resolves.toBeUndefined();
    const file = path.join(root, 'a-file');
    fs.writeFileSync(file, 'x');
    await removeTree(file);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('runs removals one after another in the order asked, background ones included', async () => {
    const a = path.join(root, 'a');
    const b = path.join(root, 'b');
    grow(a, 4, 400);
    grow(b, 2, 10);
    const order: string[] = [];
    const first = removeTree(a, { background: true }).then(() => order.push('a'));
    const second = removeTree(b).then(() => order.push('b'));
    await Promise.all([first, second]);
    expect(order).toEqual(['a', 'b']);
    expect(fs.readdirSync(root)).toEqual([]);
  });

  it('leaves the event loop idle while a large tree goes', async () => {
    const tree = path.join(root, 'big');
    const control = path.join(root, 'control');
    grow(tree, 50, 6000);
    grow(control, 50, 6000);
    await removeTree(path.join(root, 'warm-the-thread'));
    // the same removal on this thread, for scale (a loaded machine slows both alike)
    const t0 = performance.now();
    fs.rmSync(control, { recursive: true });
    const onThisThread = performance.now() - t0;
    const before = performance.eventLoopUtilization();
    await removeTree(tree);
    const elu = performance.eventLoopUtilization(before);
    expect(fs.existsSync(tree)).toBe(false);
    // fs.promises.rm kept the loop busy 0.6-0.9 of the time; here it only waits for the answer
    expect(elu.active).toBeLessThan(onThisThread / 3);
  });
});

describe('linkFiles', () => {
  it('hard-links each file into the new tree and names the links that failed', async () => {
    const from = path.join(root, 'old');
    const to = path.join(root, 'new');
    grow(from, 2, 6);
    for (let d = 0; d < 2; d++) fs.mkdirSync(path.join(to, `d${d}`, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(to, 'd1', 'sub', 'f3'), 'already there');
    const rels = ['d0/sub/f0', 'd1/sub/f1', 'd0/sub/missing', 'd1/sub/f3', 'd0/sub/f4'];

    const failed = await linkFiles(from, to, rels);

    expect(failed).toEqual([2, 3]);
    for (const rel of ['d0/sub/f0', 'd1/sub/f1', 'd0/sub/f4']) {
      expect(fs.statSync(path.join(to, rel)).ino).toBe(fs.statSync(path.join(from, rel)).ino);
    }
    expect(fs.readFileSync(path.join(to, 'd1', 'sub', 'f3'), 'utf8')).toBe('already there');
    expect(fs.existsSync(path.join(to, 'd0', 'sub', 'missing'))).toBe(false);
    await expect(linkFiles(from, to, [])).resolves.toEqual([]);
  });

  it('leaves the event loop idle while thousands of links are made', async () => {
    const from = path.join(root, 'old');
    const to = path.join(root, 'new');
    const control = path.join(root, 'control');
    grow(from, 50, 6000);
    for (const d of [to, control])
      for (let k = 0; k < 50; k++) fs.mkdirSync(path.join(d, `d${k}`, 'sub'), { recursive: true });
    const rels = Array.from({ length: 6000 }, (_, f) => `d${f % 50}/sub/f${f}`);
    await linkFiles(from, to, ['warm-the-thread']);
    // the same links on this thread, for scale (a loaded machine slows both alike)
    const t0 = performance.now();
    for (const rel of rels) fs.linkSync(path.join(from, rel), path.join(control, rel));
    const onThisThread = performance.now() - t0;
    const before = performance.eventLoopUtilization();
    const failed = await linkFiles(from, to, rels);
    const elu = performance.eventLoopUtilization(before);
    expect(failed).toEqual([]);
    expect(fs.statSync(path.join(to, 'd7', 'sub', 'f5957')).nlink).toBe(3);
    expect(elu.active).toBeLessThan(onThisThread / 3);
  });
});
