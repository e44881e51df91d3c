import { STAGES, StageClock } from '../../../datapath/stages.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const get = (c: StageClock, stage: string): { seconds: number; bytes: number } =>
  c.totals().find((t) => t.stage === stage)!;

describe('StageClock', () => {
  it('lists every stage, at zero before any work', () => {
    const c = new StageClock();
    expect(c.totals()).toEqual(STAGES.map((stage) => ({ stage, seconds: 0, bytes: 0 })));
  });

  it('counts overlapping operations of one stage once (active time), and adds their bytes', async () => {
    const c = new StageClock();
    const t0 = performance.now();
    await Promise.all([c.wait('send', 10, sleep(60)), c.wait('send', 5, sleep(60))]);
    const wall = (performance.now() - t0) / 1000;
    const send = get(c, 'send');
    expect(send.bytes).toBe(15);
    expect(send.seconds).toBeGreaterThanOrEqual(0.05);
    expect(send.seconds).toBeLessThanOrEqual(wall + 0.001); // not 2 × 60 ms
    expect(get(c, 'read')).toEqual({ stage: 'read', seconds: 0, bytes: 0 });
  });

  it('adds separate operations, and an operation still in flight counts up to now', async () => {
    const c = new StageClock();
    await c.wait('hash', 1, sleep(30));
    await c.wait('hash', 1, sleep(30));
    expect(get(c, 'hash').seconds).toBeGreaterThanOrEqual(0.05);
    const end = c.begin('write');
    await sleep(30);
    expect(get(c, 'write').seconds).toBeGreaterThanOrEqual(0.025);
    end(7);
    end(7); // a second end changes nothing
    expect(get(c, 'write').bytes).toBe(7);
  });

  it('time() returns the result and records the operation even when it throws', () => {
    const c = new StageClock();
    expect(c.time('cut', 3, () => 42)).toBe(42);
    expect(() =>
      c.time('cut', 4, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(get(c, 'cut').bytes).toBe(7);
  });
});
