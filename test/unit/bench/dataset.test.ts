import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import {
  appendToBig,
  distinctSample,
  filesToTouch,
  Keystream,
  MiB,
  overwritePages,
  PAGE,
  pagesToOverwrite,
  planDataset,
  touchSmallFiles,
  type DatasetPlan,
} from '../../../bench/dataset.js';

describe('planDataset', () => {
  it('has 10,000 small files and touches 1,000 at the full 2 GiB, summing to the volume', () => {
    const plan = planDataset(2048 * MiB, 'ferry');
    expect(plan.small).toHaveLength(10_000);
    expect(plan.touchCount).toBe(1_000);
    expect(plan.small.reduce((s, f) => s + f.size, 0) + plan.big.size).toBe(2048 * MiB);
    expect(new Set(plan.small.map((f) => f.rel)).size).toBe(10_000);
    for (const f of plan.small) {
      expect(f.size).toBeGreaterThanOrEqual(1024);
      expect(f.size).toBeLessThanOrEqual(64 * 1024);
    }
  });
  it('scales the small files down with the volume', () => {
    const plan = planDataset(128 * MiB, 'ferry');
    expect(plan.small).toHaveLength(625);
    expect(plan.touchCount).toBe(63);
    expect(plan.small.reduce((s, f) => s + f.size, 0) + plan.big.size).toBe(128 * MiB);
  });
  it('is deterministic for a seed and differs across seeds', () => {
    expect(planDataset(64 * MiB, 'a')).toEqual(planDataset(64 * MiB, 'a'));
    expect(planDataset(64 * MiB, 'a').big.size).not.toBe(planDataset(64 * MiB, 'b').big.size);
  });
  it('refuses tiny volumes', () => {
    expect(() => planDataset(MiB, 'x')).toThrow('at least 16 MiB');
  });
});

describe('distinctSample', () => {
  it('returns count distinct sorted values in range', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.string(),
        (n, frac, seed) => {
          const count = Math.floor(n * frac);
          const out = distinctSample(
            n,
            count,
            (() => {
              let x = seed.length + 1;
              return () => (x = (x * 48271) % 2147483647) / 2147483647;
            })(),
          );
          expect(out).toHaveLength(count);
          expect(new Set(out).size).toBe(count);
          for (let i = 1; i < out.length; i++) expect(out[i]!).toBeGreaterThan(out[i - 1]!);
          for (const v of out) expect(v >= 0 && v < n).toBe(true);
        },
      ),
    );
  });
  it('refuses more than n', () => {
    expect(() => distinctSample(3, 4, Math.random)).toThrow('cannot pick 4');
  });
  it('picks 1% of whole pages', () => {
    expect(pagesToOverwrite(1000 * PAGE + 17, 's')).toHaveLength(10);
    expect(pagesToOverwrite(10 * PAGE, 's')).toHaveLength(1);
  });
});

describe('mutations', () => {
  let root: string;
  let plan: DatasetPlan;
  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-test-'));
    const bigSize = 3000 * PAGE + 123;
    plan = {
      seed: 't',
      totalBytes: bigSize + 2 * 2048,
      big: { rel: 'db/data.db', size: bigSize },
      small: [
        { rel: 'files/a.dat', size: 2048 },
        { rel: 'files/b.dat', size: 2048 },
      ],
      touchCount: 1,
    };
    mkdirSync(path.join(root, 'db'));
    mkdirSync(path.join(root, 'files'));
    writeFileSync(path.join(root, plan.big.rel), new Keystream('t', 'big').next(bigSize));
    for (const f of plan.small) writeFileSync(path.join(root, f.rel), new Keystream('t', f.rel).next(f.size));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('overwritePages changes exactly changedBytes worth of whole pages and keeps the size', () => {
    const before = readFileSync(path.join(root, plan.big.rel));
    const m = overwritePages(root, plan, 'x');
    const after = readFileSync(path.join(root, plan.big.rel));
    expect(after.length).toBe(before.length);
    let changedPages = 0;
    for (let off = 0; off < before.length; off += PAGE) {
      if (!before.subarray(off, off + PAGE).equals(after.subarray(off, off + PAGE))) changedPages++;
    }
    expect(m.changedBytes).toBe(30 * PAGE);
    expect(changedPages * PAGE).toBe(m.changedBytes);
  });

  it('appendToBig grows the file by exactly the appended bytes and keeps the prefix', () => {
    const before = readFileSync(path.join(root, plan.big.rel));
    const m = appendToBig(root, plan, 'x', 100_000);
    const after = readFileSync(path.join(root, plan.big.rel));
    expect(m.changedBytes).toBe(100_000);
    expect(after.length).toBe(before.length + 100_000);
    expect(after.subarray(0, before.length).equals(before)).toBe(true);
  });

  it('touchSmallFiles moves mtimes forward without changing contents', () => {
    const [f] = filesToTouch(plan, 'touch');
    const p = path.join(root, f!.rel);
    const content = readFileSync(p);
    const mtime = statSync(p).mtimeMs;
    const m = touchSmallFiles(root, plan, 'touch');
    expect(m.changedBytes).toBe(0);
    expect(readFileSync(p).equals(content)).toBe(true);
    expect(statSync(p).mtimeMs).toBeGreaterThanOrEqual(mtime + 1999);
  });

  it('keystreams are deterministic and incompressible-looking', () => {
    const a = new Keystream('s', 'l').next(1 << 16);
    expect(a.equals(new Keystream('s', 'l').next(1 << 16))).toBe(true);
    expect(a.equals(new Keystream('s', 'm').next(1 << 16))).toBe(false);
    const counts = new Array<number>(256).fill(0);
    for (const b of a) counts[b]!++;
    expect(Math.max(...counts)).toBeLessThan(400);
  });
});
