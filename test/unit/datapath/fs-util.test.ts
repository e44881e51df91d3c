import { jest } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AfterAnswer, KeyedMutex, LatestWriter } from '../../../datapath/fs-util.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-latest-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('LatestWriter', () => {
  it('lands the newest content last, skipping those replaced while one was written', async () => {
    const w = new LatestWriter();
    const file = path.join(dir, 'a.json');
    const writes: string[] = [];
    const real = fs.promises.open;
    // count the temp files opened for this file: one per content actually written
    const spy = jest.spyOn(fs.promises, 'open').mockImplementation((p, ...rest) => {
      if (String(p).startsWith(`${file}.tmp-`)) writes.push(String(p));
      return real(p, ...rest);
    });
    try {
      const done = Array.from({ length: 50 }, (_, i) => w.write(file, `v${i}`));
      await Promise.all(done);
      expect(fs.readFileSync(file, 'utf8')).toBe('v49');
      expect(writes.length).toBe(2); // v0 at once, then only the newest of those asked meanwhile
      expect(fs.readdirSync(dir)).toEqual(['a.json']);
    } finally {
      spy.mockRestore();
    }
  });

  it('resolves each write only once its content or a newer one is on disk', async () => {
    const w = new LatestWriter();
    const file = path.join(dir, 'b.json');
    const seen: string[] = [];
    const first = w.write(file, 'one').then(() => seen.push(fs.readFileSync(file, 'utf8')));
    const second = w.write(file, 'two').then(() => seen.push(fs.readFileSync(file, 'utf8')));
    await Promise.all([first, second]);
    expect(seen[0] === 'one' || seen[0] === 'two').toBe(true);
    expect(seen[1]).toBe('two');
  });

  it('removes after the writes asked before it, and writes again after a removal', async () => {
    const w = new LatestWriter();
    const file = path.join(dir, 'c.json');
    void w.write(file, 'x');
    void w.write(file, 'y');
    await w.remove(file);
    expect(fs.existsSync(file)).toBe(false);
    void w.write(file, 'z');
    await w.flush();
    expect(fs.readFileSync(file, 'utf8')).toBe('z');
  });

  it('reports a failed write and goes on with the next content', async () => {
    const errors: string[] = [];
    const w = new LatestWriter((f, err) => errors.push(`${path.basename(f)}: ${(err as Error).message}`));
    const file = path.join(dir, 'missing', 'd.json');
    await w.write(file, 'lost');
    expect(errors).toEqual([expect.stringMatching(/^d\.json: ENOENT/)]);
    fs.mkdirSync(path.dirname(file));
    await w.write(file, 'kept');
    expect(fs.readFileSync(file, 'utf8')).toBe('kept');
  });

  it('flush waits for the writes of every file', async () => {
    const w = new LatestWriter();
    for (let i = 0; i < 20; i++) void w.write(path.join(dir, `f${i % 4}.json`), `n${i}`);
    await w.flush();
    expect(fs.readdirSync(dir).sort()).toEqual(['f0.json', 'f1.json', 'f2.json', 'f3.json']);
    expect(fs.readFileSync(path.join(dir, 'f3.json'), 'utf8')).toBe('n19');
  });
});

describe('AfterAnswer', () => {
  it("runs after the key's holder and its caller's next steps, and before the key's next holder", async () => {
    const lock = new KeyedMutex();
    const after = new AfterAnswer(lock);
    const order: string[] = [];
    const answer = lock.run('v', async () => {
      order.push('commit');
      after.queue('v', 'release', async () => {
        order.push('release starts');
        await new Promise((r) => setTimeout(r, 30));
        order.push('release ends');
      });
      return 'answer';
    });
    const other = lock.run('w', async () => order.push('another volume'));
    order.push(`caller got ${await answer}`);
    // asked for after the answer (a holder already waiting when it was queued goes first)
    const next = lock.run('v', async () => order.push('next commit'));
    await Promise.all([next, other]);
    await after.settled();
    expect(order).toEqual([
      'commit',
      'another volume',
      'caller got answer',
      'release starts',
      'release ends',
      'next commit',
    ]);
  });

  it('reports a failure without passing it on; the key goes on; settled waits for one key or all', async () => {
    const lock = new KeyedMutex();
    const errors: string[] = [];
    const after = new AfterAnswer(lock, (what, err) => errors.push(`${what}: ${(err as Error).message}`));
    let slow = false;
    after.queue('v', 'releasing v', async () => {
      throw new Error('disk gone');
    });
    after.queue('w', 'releasing w', async () => {
      await new Promise((r) => setTimeout(r, 50));
      slow = true;
    });
    await after.settled('v');
    expect(errors).toEqual(['releasing v: disk gone']);
    expect(slow).toBe(false);
    await expect(lock.run('v', async () => 'still usable')).resolves.toBe('still usable');
    await after.settled();
    expect(slow).toBe(true);
    await after.settled('nothing queued');
  });
});
