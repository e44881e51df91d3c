import { ReadsAhead } from '../../../datapath/source/reads-ahead.js';

describe('ReadsAhead', () => {
  it('starts one read per chunk and keeps it until its last announced use', async () => {
    const started: string[] = [];
    const r = new ReadsAhead(async (hex) => {
      started.push(hex);
      return Buffer.from(hex);
    });
    r.want('a');
    r.want('b');
    r.want('a'); // a second chunk ahead names the same base
    expect(started).toEqual(['a', 'b']);
    expect(r.held).toBe(2);
    const first = r.take('a');
    expect(r.held).toBe(2); // still wanted once more
    const second = r.take('a');
    expect(second).toBe(first);
    expect((await second)?.toString()).toBe('a');
    expect(r.held).toBe(1);
    expect(r.take('a')).toBeUndefined(); // used up: the caller reads it itself
    expect((await r.take('b'))?.toString()).toBe('b');
    expect(r.held).toBe(0);
  });

  it('answers null for a read that failed, once per use', async () => {
    const r = new ReadsAhead(() => Promise.reject(new Error('gone')));
    r.want('x');
    r.want('x');
    expect(await r.take('x')).toBeNull();
    expect(await r.take('x')).toBeNull();
    expect(r.take('x')).toBeUndefined();
  });
});
