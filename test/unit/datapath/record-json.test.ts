import fc from 'fast-check';
import {
  entriesJsonOf,
  KeptEntries,
  MAX_KEPT_ENTRIES_JSON,
  recordJson,
} from '../../../datapath/protocol/record-json.js';
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

  it("writes a source snapshot's record (summary, then the manifest) and finds its entries; not in the old layout", () => {
    const m = manifest(entries) as unknown as Manifest;
    const summary = {
      id: 'snap-1',
      files: 1,
      stats: { skipped: [{ path: 'x', type: 'fifo' }], durationMs: 3 },
    };
    const text = recordJson({ manifest: m, summary }, JSON.stringify(entries));
    expect(JSON.parse(text)).toEqual({ manifest: JSON.parse(JSON.stringify(m)), summary });
    expect(entriesJsonOf(text)).toBe(JSON.stringify(entries));
    expect(entriesJsonOf(JSON.stringify({ manifest: m, summary }))).toBeNull(); // written before
  });
});

describe('KeptEntries', () => {
  it("gives a volume's kept JSON for the manifest it was kept for only", () => {
    const k = new KeptEntries();
    k.keep('v', 'a', '[1]');
    k.keep('w', 'b', '[2]');
    expect([k.of('v', 'a'), k.of('v', 'b'), k.of('v', null), k.of('w', 'b')]).toEqual([
      '[1]',
      undefined,
      undefined,
      '[2]',
    ]);
    k.keep('v', 'c', '[3]');
    expect([k.of('v', 'a'), k.of('v', 'c')]).toEqual([undefined, '[3]']);
    k.keep('v', 'd', null); // not known: nothing kept for the volume
    expect(k.of('v', 'c')).toBeUndefined();
    k.forget('w');
    expect(k.of('w', 'b')).toBeUndefined();
  });

  it('keeps no text longer than MAX_KEPT_ENTRIES_JSON', () => {
    const k = new KeptEntries();
    const long = { length: MAX_KEPT_ENTRIES_JSON + 1 } as unknown as string;
    k.keep('v', 'a', '[1]');
    k.keep('v', 'b', long);
    expect([k.of('v', 'a'), k.of('v', 'b')]).toEqual([undefined, undefined]);
  });
});
