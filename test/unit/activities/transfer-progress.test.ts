// A transfer counts as stalled only while transferring and only for the time nothing moved.
import { jest } from '@jest/globals';
import { VOLUME_LOCK_WAIT, type StandbyInfo } from '../../../datapath/protocol/agent-api.js';
import {
  COMMIT_ASK_MS,
  COMMIT_CHECK_MS,
  CommitWatch,
  commitStallMessage,
  ProgressWatch,
  stalledCommit,
  type ProgressCounters,
} from '../../../activities/transfer-progress.js';

const at = (phase: ProgressCounters['phase'], bytesDone = 0, extra: Partial<ProgressCounters> = {}) => ({
  phase,
  bytesDone,
  bytesOnWire: 0,
  chunksSent: 0,
  chunksSkipped: 0,
  ...extra,
});

describe('ProgressWatch', () => {
  it.each<[string, Array<[ProgressCounters, number]>, number]>([
    [
      'bytes keep moving',
      [
        [at('transferring', 1), 0],
        [at('transferring', 2), 10_000],
        [at('transferring', 3), 20_000],
      ],
      0,
    ],
    [
      'nothing moves while transferring',
      [
        [at('transferring', 5), 1000],
        [at('transferring', 5), 9000],
        [at('transferring', 5), 31_000],
      ],
      30_000,
    ],
    [
      'a long commit is not a stall',
      [
        [at('committing', 5), 0],
        [at('committing', 5), 600_000],
      ],
      0,
    ],
    [
      'a long snapshot is not a stall',
      [
        [at('snapshotting'), 0],
        [at('snapshotting'), 600_000],
      ],
      0,
    ],
    [
      'entering transferring restarts the clock',
      [
        [at('planning'), 0],
        [at('transferring'), 500_000],
        [at('transferring'), 530_000],
      ],
      30_000,
    ],
    [
      'chunks skipped count as progress',
      [
        [at('transferring', 5), 0],
        [at('transferring', 5, { chunksSkipped: 9 }), 40_000],
        [at('transferring', 5, { chunksSkipped: 9 }), 50_000],
      ],
      10_000,
    ],
    [
      'manifest bytes on the wire count as progress',
      [
        [at('transferring', 5), 0],
        [at('transferring', 5, { bytesOnWire: 7 }), 40_000],
      ],
      0,
    ],
  ])('%s', (_, polls, idle) => {
    const w = new ProgressWatch(0);
    let last = -1;
    for (const [s, now] of polls) last = w.observe(s, now);
    expect(last).toBe(idle);
  });
});

describe('stalledCommit', () => {
  const c = (restorePoint: string, waitingFor: string | null, waitedMs: number) => ({
    restorePoint,
    waitingFor,
    waitedMs,
  });
  it.each<[string, ReturnType<typeof c>[], ReturnType<typeof c> | null]>([
    ['no commit of ours under way (not begun, or done)', [c('rp0', 'prepared copy of a', 900_000)], null],
    ['ours is working', [c('rp1', null, 0)], null],
    ['ours waits, not long enough', [c('rp1', 'prepared copy of db/big.dat', 299_999)], null],
    [
      'ours waits long enough on a best-effort copy',
      [c('rp1', 'prepared copy of db/big.dat', 300_000)],
      c('rp1', 'prepared copy of db/big.dat', 300_000),
    ],
    [
      'ours waits for the lock held by a commit that is working',
      [c('rp0', null, 0), c('rp1', VOLUME_LOCK_WAIT, 900_000)],
      null,
    ],
    [
      'ours waits for the lock held by a commit that is stuck',
      [c('rp0', 'large files written as their chunks arrive', 400_000), c('rp1', VOLUME_LOCK_WAIT, 400_000)],
      c('rp0', 'large files written as their chunks arrive', 400_000),
    ],
    [
      'a stuck commit queued behind ours is not ours to report',
      [c('rp1', null, 0), c('rp2', 'prepared copy of a', 900_000)],
      null,
    ],
  ])('%s', (_, committing, stuck) => {
    expect(stalledCommit(committing, 'rp1', 300_000)).toEqual(stuck);
  });
});

describe('CommitWatch', () => {
  it('asks the destination only once a commit has run COMMIT_CHECK_MS, then every COMMIT_CHECK_MS, and reports a stuck one', async () => {
    const asked: number[] = [];
    let waitedMs = 0;
    let now = 0;
    const destination = {
      async findStandby(volume: string): Promise<StandbyInfo | null> {
        expect(volume).toBe('pgdata');
        asked.push(now);
        return {
          committing: [{ restorePoint: 'rp1', waitingFor: 'prepared copy of base/1', waitedMs }],
        } as unknown as StandbyInfo;
      },
    };
    const w = new CommitWatch(destination, 'pgdata', 300_000);
    const s = (phase: ProgressCounters['phase']) => ({ ...at(phase), snapshotId: 'rp1' }) as never;
    expect(await w.observe(s('transferring'), now)).toBeNull();
    now = 1_000;
    expect(await w.observe(s('committing'), now)).toBeNull();
    now += COMMIT_CHECK_MS - 1;
    expect(await w.observe(s('committing'), now)).toBeNull();
    expect(asked).toEqual([]);
    now += 1;
    waitedMs = 200_000;
    expect(await w.observe(s('committing'), now)).toBeNull(); // asked: waiting, not long enough
    now += 1_000;
    expect(await w.observe(s('committing'), now)).toBeNull(); // not asked again so soon
    expect(asked).toEqual([1_000 + COMMIT_CHECK_MS]);
    now += COMMIT_CHECK_MS;
    waitedMs = 300_000;
    const stall = await w.observe(s('committing'), now);
    expect(stall).toEqual({
      kind: 'waiting',
      commit: { restorePoint: 'rp1', waitingFor: 'prepared copy of base/1', waitedMs: 300_000 },
    });
    expect(asked).toHaveLength(2);
    expect(commitStallMessage('pgdata', 'https://10.0.0.2:8443', stall!)).toBe(
      'volume pgdata: commit stalled: the destination agent https://10.0.0.2:8443 has waited 300 s for prepared copy of base/1 while committing restore point rp1; the standby keeps its current restore point; restart that agent if this repeats',
    );
  });

  it('gives up on a destination slow to answer after COMMIT_ASK_MS, within the heartbeat timeout', async () => {
    const w = new CommitWatch({ findStandby: () => new Promise(() => undefined) }, 'pgdata', 300_000);
    const s = { ...at('committing'), snapshotId: 'rp1' } as never;
    expect(await w.observe(s, 0)).toBeNull();
    const t0 = Date.now();
    expect(await w.observe(s, COMMIT_CHECK_MS)).toBeNull(); // silent, but not for long enough
    expect(Date.now() - t0).toBeGreaterThanOrEqual(COMMIT_ASK_MS - 50);
    expect(Date.now() - t0).toBeLessThan(COMMIT_ASK_MS + 2_000);
  });

  it.each([
    ['fails every question', () => Promise.reject(new Error('ECONNREFUSED'))],
    ['answers no question', () => new Promise<never>(() => undefined)],
  ])(
    'reports a destination that %s for the stall time of committing, counted from its last answer',
    async (_, silent) => {
      jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] });
      try {
        let answer = true;
        const destination = {
          findStandby: (): Promise<StandbyInfo | null> =>
            answer ? Promise.resolve({ committing: [] } as unknown as StandbyInfo) : silent(),
        };
        const w = new CommitWatch(destination, 'pgdata', 100_000);
        const s = { ...at('committing'), snapshotId: 'rp1' } as never;
        // each question gets COMMIT_ASK_MS of (fake) time for its answer
        const ask = async (watch: CommitWatch, now: number) => {
          const p = watch.observe(s, now);
          await jest.advanceTimersByTimeAsync(COMMIT_ASK_MS);
          return p;
        };
        const observe = (now: number) => ask(w, now);
        expect(await observe(0)).toBeNull();
        expect(await observe(COMMIT_CHECK_MS)).toBeNull(); // answered: nothing stuck
        answer = false;
        expect(await observe(2 * COMMIT_CHECK_MS)).toBeNull(); // silent 30 s
        expect(await observe(3 * COMMIT_CHECK_MS)).toBeNull(); // silent 60 s
        expect(await observe(4 * COMMIT_CHECK_MS)).toBeNull(); // silent 90 s
        const stall = await observe(5 * COMMIT_CHECK_MS); // silent 120 s since the last answer
        expect(stall).toEqual({ kind: 'silent', restorePoint: 'rp1', silentMs: 4 * COMMIT_CHECK_MS });
        expect(commitStallMessage('pgdata', 'https://10.0.0.2:8443', stall!)).toBe(
          'volume pgdata: commit stalled: the destination agent https://10.0.0.2:8443 has answered neither the worker nor the source agent for 120 s while committing restore point rp1 (frozen, or its host overloaded or cut off); the standby keeps its current restore point; restart that agent if this repeats, unless that commit still completes',
        );
        // the source agent still reaching it counts as an answer: the worker alone is cut off
        let relayed = true;
        const relay = (): Promise<StandbyInfo | null> =>
          relayed ? Promise.resolve({ committing: [] } as unknown as StandbyInfo) : silent();
        const cutOff = new CommitWatch({ findStandby: silent }, 'pgdata', 100_000, relay);
        const c = (now: number) => ask(cutOff, now);
        for (let k = 0; k <= 6; k++) expect(await c(k * COMMIT_CHECK_MS)).toBeNull(); // 180 s, relayed
        relayed = false;
        for (let k = 7; k <= 9; k++) expect(await c(k * COMMIT_CHECK_MS)).toBeNull();
        expect(await c(10 * COMMIT_CHECK_MS)).toEqual({
          kind: 'silent',
          restorePoint: 'rp1',
          silentMs: 4 * COMMIT_CHECK_MS, // since the relay's last answer
        });
        // never having answered counts from the start of the commit
        const fresh = new CommitWatch({ findStandby: silent }, 'pgdata', 100_000);
        const f = (now: number) => ask(fresh, now);
        expect(await f(10_000)).toBeNull();
        expect(await f(10_000 + 3 * COMMIT_CHECK_MS)).toBeNull(); // 90 s
        expect(await f(10_000 + 4 * COMMIT_CHECK_MS)).toEqual({
          kind: 'silent',
          restorePoint: 'rp1',
          silentMs: 4 * COMMIT_CHECK_MS,
        });
      } finally {
        jest.useRealTimers();
      }
    },
  );
});
