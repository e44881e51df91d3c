// A transfer counts as stalled only while transferring and only for the time nothing moved.
import { ProgressWatch, type ProgressCounters } from '../../../activities/transfer-progress.js';

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
