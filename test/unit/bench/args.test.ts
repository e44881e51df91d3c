// bench:datapath's flags for the paths Ferry's replication may take (bench/args.ts).
import { parseArgs } from '../../../bench/args.js';

describe('bench:datapath paths', () => {
  it.each([
    [[], { snapshotFirst: false, migration: false, quiesced: false }],
    [['--snapshot-first'], { snapshotFirst: true, migration: false, quiesced: false }],
    [['--migration'], { snapshotFirst: false, migration: true, quiesced: false }],
    [['--migration', '--quiesced'], { snapshotFirst: false, migration: true, quiesced: true }],
  ])('%j', (argv, expected) => {
    expect(parseArgs(argv)).toMatchObject(expected);
  });

  it.each([
    [['--quiesced'], '--quiesced: only with --migration'],
    [['--snapshot-first', '--quiesced'], '--quiesced: only with --migration'],
    [['--migration', '--snapshot-first'], '--migration and --snapshot-first: choose one path'],
  ])('refuses %j', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(message);
  });
});
