import { replicationKind } from '../../../datapath/protocol/mode.js';

describe('ClusterPair mode rule', () => {
  const table: Array<[string | undefined, number, 'full' | 'incremental']> = [
    ['DisasterRecovery', 0, 'incremental'],
    ['DisasterRecovery', 6, 'incremental'],
    ['DisasterRecovery', 7, 'incremental'],
    ['DisasterRecovery', 700, 'incremental'],
    [undefined, 0, 'full'],
    [undefined, 1, 'incremental'],
    [undefined, 6, 'incremental'],
    [undefined, 7, 'full'],
    [undefined, 8, 'incremental'],
    [undefined, 13, 'incremental'],
    [undefined, 14, 'full'],
    ['', 21, 'full'],
    ['SomethingElse', 3, 'incremental'],
    ['SomethingElse', 28, 'full'],
  ];
  it.each(table)('mode %p after %p replications → %p', (mode, previous, kind) => {
    expect(replicationKind(mode, previous)).toBe(kind);
  });

  it('default mode: exactly one full in every 7 consecutive replications', () => {
    const kinds = Array.from({ length: 70 }, (_, i) => replicationKind(undefined, i));
    expect(kinds.filter((k) => k === 'full')).toHaveLength(10);
  });

  it('refuses a negative or fractional count', () => {
    expect(() => replicationKind(undefined, -1)).toThrow(RangeError);
    expect(() => replicationKind(undefined, 1.5)).toThrow(RangeError);
  });
});
