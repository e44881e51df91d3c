// bench:datapath's flags for the paths Ferry's replication may take (bench/args.ts).
import { parseArgs } from '../../../bench/args.js';

describe('bench:datapath paths', () => {
  it.each([
    [[], { snapshotFirst: false, migration: false, stream: false }],
    [['--snapshot-first'], { snapshotFirst: true, migration: false, stream: false }],
    [['--migration'], { snapshotFirst: false, migration: true, stream: false }],
    [['--migration', '--stream'], { snapshotFirst: false, migration: true, stream: true }],
    [[], { dataPlaintext: false }],
    [['--data-plaintext'], { dataPlaintext: true }],
    [['--migration', '--data-plaintext'], { migration: true, dataPlaintext: true }],
  ])('%j', (argv, expected) => {
    expect(parseArgs(argv)).toMatchObject(expected);
  });

  it.each([
    [['--stream'], '--stream: only with --migration'],
    [['--snapshot-first', '--stream'], '--stream: only with --migration'],
    [['--migration', '--snapshot-first'], '--migration and --snapshot-first: choose one path'],
  ])('refuses %j', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(message);
  });
});
