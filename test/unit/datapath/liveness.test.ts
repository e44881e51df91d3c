import fc from 'fast-check';
import { type ChunkList, type Entry, Liveness } from '../../../datapath/store/liveness.js';

/** An index holding `present` chunks, each with no references yet. */
function indexOf(present: readonly string[]): Map<string, Entry> {
  return new Map(present.map((h) => [h, { pack: 0, off: 0, len: 1, refs: 0 }]));
}

describe('Liveness.refLists', () => {
  it('counts a list held by several manifests once, and releases its chunks with the last one', () => {
    const index = indexOf(['a', 'b', 'c']);
    const live = new Liveness(index);
    const shared: ChunkList = [
      ['a', 1],
      ['b', 1],
      ['b', 1],
    ]; // an unchanged file, b twice in it
    const older: ChunkList[] = [shared, [['c', 1]]];
    const newer: ChunkList[] = [shared]; // the next snapshot: the same list object
    live.refLists(older);
    expect([index.get('a')!.refs, index.get('b')!.refs, index.get('c')!.refs]).toEqual([1, 2, 1]);
    live.refLists(newer);
    expect([index.get('a')!.refs, index.get('b')!.refs]).toEqual([1, 2]); // not counted again
    live.unrefLists(older);
    expect([index.get('a')!.refs, index.get('b')!.refs, index.get('c')!.refs]).toEqual([1, 2, 0]);
    expect(['a', 'b', 'c'].map((h) => live.wanted(h))).toEqual([true, true, false]);
    live.unrefLists(newer);
    expect(['a', 'b'].map((h) => live.wanted(h))).toEqual([false, false]);
  });

  it('keeps references to chunks not present yet until they arrive', () => {
    const index = indexOf([]);
    const live = new Liveness(index);
    const list: ChunkList = [['x', 1]];
    live.refLists([list]);
    expect(live.wanted('x')).toBe(true);
    index.set('x', { pack: 0, off: 0, len: 1, refs: live.arrived('x') });
    expect(index.get('x')!.refs).toBe(1);
    live.unrefLists([list]);
    expect(live.wanted('x')).toBe(false);
  });

  it('leaves the chunks of a list no manifest references through refLists referenced', () => {
    const index = indexOf(['a']);
    const live = new Liveness(index);
    live.refLists([[['a', 1]]]);
    live.unrefLists([[['a', 1]]]); // equal content, another object: not the list referenced
    expect(index.get('a')!.refs).toBe(1);
    expect(live.wanted('a')).toBe(true);
  });

  // Manifests built from a pool of lists (shared by identity, as consecutive snapshots share their
  // unchanged files' lists) and fresh lists, referenced and released in any order: a chunk is
  // wanted exactly when a live manifest has it in one of its files.
  it('wants exactly the chunks of the live manifests, whatever lists they share', () => {
    const hashes = ['a', 'b', 'c', 'd', 'e', 'f'];
    const list = fc
      .array(fc.constantFrom(...hashes), { maxLength: 5 })
      .map((hs): ChunkList => hs.map((h) => [h, 1] as const));
    const step = fc.record({
      release: fc.boolean(),
      which: fc.nat(),
      files: fc.array(fc.oneof(fc.nat({ max: 7 }), list), { maxLength: 6 }),
    });
    fc.assert(
      fc.property(
        fc.array(list, { minLength: 8, maxLength: 8 }),
        fc.subarray(hashes),
        fc.array(step, { maxLength: 30 }),
        (pool, present, steps) => {
          const index = indexOf(present);
          const live = new Liveness(index);
          const manifests: ChunkList[][] = [];
          for (const s of steps) {
            if (s.release && manifests.length > 0) {
              const [m] = manifests.splice(s.which % manifests.length, 1);
              live.unrefLists(m!);
            } else {
              const m = s.files.map((f) => (typeof f === 'number' ? pool[f]! : f));
              live.refLists(m);
              manifests.push(m);
            }
            const model = new Set(manifests.flat(2).map((c) => c[0]));
            for (const h of hashes) expect(live.wanted(h)).toBe(model.has(h));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('Pin', () => {
  it('holds the chunks of lists added whole, as those added one by one', () => {
    const live = new Liveness(indexOf(['a', 'b', 'c']));
    const pin = live.pin();
    pin.add('a');
    pin.addList([
      ['b', 1],
      ['b', 1],
    ]);
    expect(['a', 'b', 'c'].map((h) => live.wanted(h))).toEqual([true, true, false]);
    pin.addList([['c', 1]]); // after the pin was read
    expect([...pin.hashes].sort()).toEqual(['a', 'b', 'c']);
    pin.clear();
    expect(['a', 'b', 'c'].map((h) => live.pinned(h))).toEqual([false, false, false]);
    pin.addList([['a', 1]]);
    live.release(pin);
    expect(live.pinned('a')).toBe(false);
  });
});
