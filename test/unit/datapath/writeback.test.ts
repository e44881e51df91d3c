import { pageCacheRoom } from '../../../datapath/destination/writeback.js';

const meminfo = (availableKb: number, dirtyKb: number, writebackKb: number): string =>
  [
    'MemTotal:       24681234 kB',
    `MemAvailable:   ${availableKb} kB`,
    'Buffers:          123456 kB',
    `Dirty:          ${dirtyKb} kB`,
    `Writeback:      ${writebackKb} kB`,
    'WritebackTmp:          0 kB',
  ].join('\n');

const GiB = 1024 ** 3;

describe('pageCacheRoom', () => {
  it.each([
    ['ratio of the available memory, nothing dirty', meminfo(20 * 1024 ** 2, 0, 0), 0, 10, 2 * GiB],
    [
      'what is dirty or being written back is taken off',
      meminfo(20 * 1024 ** 2, 512 * 1024, 512 * 1024),
      0,
      10,
      GiB,
    ],
    ['bytes set win over the ratio', meminfo(20 * 1024 ** 2, 0, 0), 256 * 1024 ** 2, 10, 256 * 1024 ** 2],
    ['never below zero', meminfo(1024 ** 2, 4 * 1024 ** 2, 0), 0, 10, 0],
    ['unreadable text: no room', 'MemTotal: 1 kB', 0, 10, 0],
  ])('%s', (_what, text, backgroundBytes, backgroundRatio, room) => {
    expect(pageCacheRoom(text, { backgroundBytes, backgroundRatio })).toBe(room);
  });
});
