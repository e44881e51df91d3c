import fc from 'fast-check';
import { entriesJsonOf, recordJson } from '../../../datapath/destination/record-json.js';
import type { PointRecord } from '../../../datapath/destination/retention.js';
import type { Entry, Manifest } from '../../../datapath/protocol/manifest.js';
import { manifest } from './manifests.js';

const entries: Entry[] = [
  { path: 'd', type: 'dir', mode: 0o755 },
  {
    path: 'd/a "quoted" ,"entries":[ name',
    type: 'file',
    mode: 0o644,
    size: 3,
    mtimeMs: 1.5,
    chunks: [['a'.repeat(64), 3]],
  },
  { path: 'd/link', type: 'symlink', target: 'a "quoted" ,"entries":[ name' },
];

function rec(tree?: string, extra: Record<string, unknown> = {}): PointRecord {
  return {
    seq: 4,
    committedAt: '2026-12-04T05:00:00.000Z',
    manifest: manifest(entries, extra) as unknown as Manifest,
    ...(tree ? { tree } : {}),
  };
}

describe('recordJson / entriesJsonOf', () => {
  it.each([undefined, 'snap-0'])(
    'writes the same record JSON.stringify would (tree %s), entries last',
    (tree) => {
      const r = rec(tree);
      const text = recordJson(r, JSON.stringify(r.manifest.entries));
      expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(r)));
      expect(entriesJsonOf(text)).toBe(JSON.stringify(entries));
    },
  );

  it('finds the entries of a record written before, when they come last, and no others', () => {
    expect(entriesJsonOf(JSON.stringify(rec()))).toBe(JSON.stringify(entries));
    // tree after the manifest: another layout, not guessed at
    expect(entriesJsonOf(JSON.stringify(rec('snap-0')))).toBeNull();
    expect(entriesJsonOf('{"seq":1}')).toBeNull();
    expect(entriesJsonOf('')).toBeNull();
  });

  it('round-trips any entries and header strings, whatever they contain', () => {
    const text = fc.string({
      unit: fc.constantFrom('a', '"', ',', ':', '[', ']', '}', '\\', 'entries', ' '),
    });
    fc.assert(
      fc.property(
        fc.array(text, { maxLength: 6 }),
        text,
        fc.option(text, { nil: undefined }),
        (paths, createdAt, tree) => {
          const es = paths.map((p, i) => ({ path: `${p}/${i}`, type: 'symlink', target: p }) as Entry);
          const r: PointRecord = {
            seq: 1,
            committedAt: createdAt,
            manifest: manifest(es, { createdAt }) as unknown as Manifest,
            ...(tree !== undefined ? { tree } : {}),
          };
          const written = recordJson(r, JSON.stringify(es));
          expect(JSON.parse(written)).toEqual(JSON.parse(JSON.stringify(r)));
          expect(entriesJsonOf(written)).toBe(JSON.stringify(es));
        },
      ),
    );
  });
});
