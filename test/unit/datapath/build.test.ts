// Large files written while their chunks arrive (destination/build.ts), the source's naming of
// them (source/prepare-hints.ts BuildHints) and the request between the two
// (protocol/build-hints.ts): the file a commit takes has exactly the bytes of the chunks its entry
// lists, whatever order the chunks arrive in; anything else is not taken and leaves no file.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PreparedBuilds } from '../../../datapath/destination/build.js';
import { ChunkStore } from '../../../datapath/store/chunk-store.js';
import { hashHex } from '../../../datapath/store/hash.js';
import type { AgentClient } from '../../../datapath/client/client.js';
import { BuildHints } from '../../../datapath/source/prepare-hints.js';
import { type BuildPiece, parseBuildRequest } from '../../../datapath/protocol/build-hints.js';
import type { ChunkRef, FileEntry } from '../../../datapath/protocol/manifest.js';
import { BUILD_MIN_BYTES, DEFAULT_LIMITS, MAX_BUILD_CHUNKS } from '../../../datapath/protocol/limits.js';
import { tempDir } from '../../harness/temp-dir.js';

const root = tempDir('ferry-build-');

/** A file of `n` random chunks of 40-90 KB: its bytes, its chunk list and its manifest entry. */
function file(
  rel: string,
  n: number,
): { data: Buffer; raws: Buffer[]; chunks: ChunkRef[]; entry: FileEntry } {
  const raws = Array.from({ length: n }, () => crypto.randomBytes(40_000 + crypto.randomInt(50_000)));
  const chunks = raws.map((r): ChunkRef => [hashHex(r), r.length]);
  const data = Buffer.concat(raws);
  return {
    data,
    raws,
    chunks,
    entry: { path: rel, type: 'file', mode: 0o644, size: data.length, mtimeMs: 0, chunks },
  };
}

const turn = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

async function setup(): Promise<{ store: ChunkStore; builds: PreparedBuilds; tmp: string }> {
  const dir = fs.mkdtempSync(path.join(root, 's-'));
  const store = await ChunkStore.open(path.join(dir, 'chunks'), { maxChunkSize: 256 * 1024 });
  const tmp = path.join(dir, 'tmp');
  fs.mkdirSync(tmp);
  return { store, builds: new PreparedBuilds(store), tmp };
}

const built = (tmp: string): string[] => fs.readdirSync(tmp).filter((f) => f.startsWith('built.'));

/** The build files left in `tmp` once cancelled builds have stopped (within a second). */
async function settled(tmp: string): Promise<string[]> {
  for (let i = 0; i < 100 && built(tmp).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
  return built(tmp);
}

describe('PreparedBuilds', () => {
  it('writes a file from chunks named before they arrive, as they arrive, and a commit takes it', async () => {
    const { store, builds, tmp } = await setup();
    const f = file('db/data.db', 200); // ~13 MiB: whole 8 MiB direct blocks and a partial tail
    const half = 120;
    expect(
      builds.add(
        'v',
        'rp1',
        [{ path: f.entry.path, from: 0, chunks: f.chunks.slice(0, half), done: false }],
        tmp,
      ),
    ).toBe(1);
    // The chunks arrive out of order, some before they are named, while the build waits.
    for (const k of [5, 0, 150, 3]) await store.put(f.chunks[k]![0], f.raws[k]!);
    await turn();
    builds.add(
      'v',
      'rp1',
      [{ path: f.entry.path, from: half, chunks: f.chunks.slice(half), done: true }],
      tmp,
    );
    for (const [k, r] of f.raws.entries()) {
      if (!store.has(f.chunks[k]![0])) await store.put(f.chunks[k]![0], r);
      if (k % 40 === 0) await turn();
    }
    const ready = await builds.take('v', 'rp1', f.entry);
    expect(ready).not.toBeNull();
    expect(fs.readFileSync(ready!).equals(f.data)).toBe(true);
    expect(builds.counts).toEqual({ started: 1, taken: 1, offered: 0 });
    // handed out once
    expect(await builds.take('v', 'rp1', f.entry)).toBeNull();
    store.close();
  });

  it('is not taken for another restore point or another chunk list, and leaves no file then', async () => {
    const { store, builds, tmp } = await setup();
    const f = file('a.db', 30);
    for (const [k, r] of f.raws.entries()) await store.put(f.chunks[k]![0], r);
    builds.add('v', 'rp1', [{ path: 'a.db', from: 0, chunks: f.chunks, done: true }], tmp);
    expect(await builds.take('v', 'rp2', f.entry)).toBeNull();
    // the same size, two chunks swapped: other bytes
    const changed = { ...f.entry, chunks: [f.chunks[1]!, f.chunks[0]!, ...f.chunks.slice(2)] };
    expect(await builds.take('v', 'rp1', changed)).toBeNull();
    expect(await settled(tmp)).toEqual([]);
    // not complete when the commit asks: not taken
    builds.add('v', 'rp3', [{ path: 'a.db', from: 0, chunks: f.chunks.slice(0, 10), done: false }], tmp);
    await turn();
    expect(await builds.take('v', 'rp3', f.entry)).toBeNull();
    expect(await settled(tmp)).toEqual([]);
    expect(builds.counts.taken).toBe(0);
    store.close();
  });

  it('starts over when a file is named again from its start, and drops one named with a gap', async () => {
    const { store, builds, tmp } = await setup();
    const f = file('a.db', 20);
    const g = file('a.db', 25); // the file as read again
    for (const x of [f, g]) for (const [k, r] of x.raws.entries()) await store.put(x.chunks[k]![0], r);
    builds.add('v', 'rp1', [{ path: 'a.db', from: 0, chunks: f.chunks.slice(0, 10), done: false }], tmp);
    expect(builds.add('v', 'rp1', [{ path: 'a.db', from: 0, chunks: g.chunks, done: true }], tmp)).toBe(1);
    await turn(); // the new build begins
    const ready = await builds.take('v', 'rp1', g.entry);
    expect(fs.readFileSync(ready!).equals(g.data)).toBe(true);
    builds.add('v', 'rp2', [{ path: 'a.db', from: 0, chunks: f.chunks.slice(0, 5), done: false }], tmp);
    builds.add('v', 'rp2', [{ path: 'a.db', from: 7, chunks: f.chunks.slice(7), done: true }], tmp);
    expect(builds.pending('v')).toBe(0);
    expect(await builds.take('v', 'rp2', f.entry)).toBeNull();
    store.close();
  });

  it('takes offered chunks in any order, writes them only into the file, and answers for them until released', async () => {
    const { store, builds, tmp } = await setup();
    const f = file('db/data.db', 180);
    // the same chunk twice in the file: its second place is read back from the build itself
    f.chunks[150] = f.chunks[10]!;
    f.raws[150] = f.raws[10]!;
    const data = Buffer.concat(f.raws);
    const entry: FileEntry = { ...f.entry, size: data.length, chunks: f.chunks };
    builds.add('v', 'rp1', [{ path: entry.path, from: 0, chunks: f.chunks, done: true }], tmp);
    await turn(); // the writer starts and waits for its first chunk
    const order = [...f.chunks.keys()].filter((k) => k !== 150).sort(() => crypto.randomInt(3) - 1);
    let offered = 0;
    for (const [n, k] of order.entries()) {
      const [h] = f.chunks[k]!;
      if (builds.offer(h, f.raws[k]!)) offered++;
      else if (!store.holds(h)) await store.put(h, f.raws[k]!);
      // a taken chunk reads back right away, from wherever it is (queue, staging, file)
      if (builds.has(h)) expect((await builds.read(h))!.equals(f.raws[k]!)).toBe(true);
      if (n % 30 === 0) await turn();
    }
    expect(offered).toBeGreaterThan(150); // all but chunks the queue had no room for
    expect(builds.offer(f.chunks[10]![0], f.raws[10]!)).toBe(false); // taken once
    await builds.settle('v', 'rp1');
    const ready = await builds.take('v', 'rp1', entry);
    expect(fs.readFileSync(ready!).equals(data)).toBe(true);
    expect(builds.counts.offered).toBe(offered);
    const taken = [...new Set(f.chunks.map(([h]) => h))].filter((h) => builds.has(h));
    expect(taken).toHaveLength(offered);
    for (const h of taken) expect(store.has(h)).toBe(false); // in the file, not in a pack
    // after the take (the file renamed away) the build still reads them, through its descriptor
    const moved = path.join(tmp, 'moved');
    fs.renameSync(ready!, moved);
    for (const k of [0, 10, 179]) expect((await builds.read(f.chunks[k]![0]))!.equals(f.raws[k]!)).toBe(true);
    builds.discard('v'); // the commit is over: its index holds them now (file-chunks.ts)
    expect(taken.some((h) => builds.has(h))).toBe(false);
    store.close();
  });

  it('a cancelled build drops the chunks it took', async () => {
    const { store, builds, tmp } = await setup();
    const f = file('db/data.db', 150);
    builds.add('v', 'rp1', [{ path: f.entry.path, from: 0, chunks: f.chunks, done: false }], tmp);
    await turn();
    for (const k of [3, 1, 2]) expect(builds.offer(f.chunks[k]![0], f.raws[k]!)).toBe(true);
    expect(builds.has(f.chunks[3]![0])).toBe(true);
    // the commit comes while the file was never named to its end: settle cancels the build
    await builds.settle('v', 'rp1');
    expect([1, 2, 3].some((k) => builds.has(f.chunks[k]![0]))).toBe(false);
    expect(await builds.read(f.chunks[1]![0])).toBeNull();
    expect(await settled(tmp)).toEqual([]);
    store.close();
  });

  it('a build waiting for a chunk that never comes is cancelled by discard and leaves no file', async () => {
    const { store, builds, tmp } = await setup();
    const f = file('a.db', 10);
    for (const [k, r] of f.raws.entries()) if (k !== 4) await store.put(f.chunks[k]![0], r);
    builds.add('v', 'rp1', [{ path: 'a.db', from: 0, chunks: f.chunks, done: true }], tmp);
    await turn();
    expect(built(tmp)).toHaveLength(1); // begun, waiting for chunk 4
    builds.discard('v');
    expect(await settled(tmp)).toEqual([]);
    expect(await builds.take('v', 'rp1', f.entry)).toBeNull();
    store.close();
  });

  it('a build still waiting for a chunk when its commit begins fails: settle returns, and the chunks it took are missing', async () => {
    const { store, builds, tmp } = await setup();
    const f = file('a.db', 10);
    for (const [k, r] of f.raws.entries()) if (k !== 4 && k !== 7) await store.put(f.chunks[k]![0], r);
    builds.add('v', 'rp1', [{ path: 'a.db', from: 0, chunks: f.chunks, done: true }], tmp);
    await turn();
    // chunk 7 comes from the wire and is written only into the file; chunk 4 never comes
    expect(builds.offer(f.chunks[7]![0], f.raws[7]!)).toBe(true);
    expect(builds.has(f.chunks[7]![0])).toBe(true);
    const settling = builds.settle('v', 'rp1');
    const timeout = new Promise<string>((r) => setTimeout(() => r('still waiting'), 5_000).unref());
    expect(await Promise.race([settling.then(() => 'settled'), timeout])).toBe('settled');
    // the commit will find both chunks missing (409) and the sender sends them again
    expect(builds.has(f.chunks[7]![0])).toBe(false);
    expect(store.holds(f.chunks[4]![0])).toBe(false);
    expect(await builds.take('v', 'rp1', f.entry)).toBeNull();
    expect(await settled(tmp)).toEqual([]);
    store.close();
  });
});

describe('BuildHints (the source names large new files as they are cut)', () => {
  function fakeDest(status = 202): {
    client: AgentClient;
    sent: Array<{ for: string; files: BuildPiece[] }>;
  } {
    const sent: Array<{ for: string; files: BuildPiece[] }> = [];
    const client = {
      buildStandby: async (_v: string, forId: string, files: BuildPiece[]) => {
        sent.push({ for: forId, files: structuredClone(files) });
        await turn();
        if (status !== 202) throw new Error(`status ${status}`);
        return 1;
      },
    } as unknown as AgentClient;
    return { client, sent };
  }
  const chunk = (size: number): ChunkRef => [crypto.randomBytes(32).toString('hex'), size];

  it('names a file once BUILD_MIN_BYTES of it are cut, then every chunk once and in order', async () => {
    const { client, sent } = fakeDest();
    const hints = new BuildHints(client, 'vol', new AbortController().signal);
    const big: ChunkRef[] = Array.from({ length: 300 }, () => chunk(64 * 1024)); // 18.75 MiB
    const perBlock = 64;
    for (let n = perBlock; n < big.length; n += perBlock) hints.add('big.db', big.slice(0, n), false, 'rp1');
    hints.add('big.db', big, true, 'rp1');
    hints.add('small.txt', [chunk(1000)], true, 'rp1');
    hints.add(
      'mid.db',
      Array.from({ length: 100 }, () => chunk(64 * 1024)),
      true,
      'rp1',
    ); // 6.25 MiB
    await hints.idle();
    const pieces = sent.flatMap((r) => r.files);
    expect(new Set(sent.map((r) => r.for))).toEqual(new Set(['rp1']));
    expect(new Set(pieces.map((p) => p.path))).toEqual(new Set(['big.db']));
    // the first piece waited for 8 MiB of the file; together the pieces are the list, in order
    expect(pieces[0]!.from).toBe(0);
    expect(pieces[0]!.chunks.reduce((a, c) => a + c[1], 0)).toBeGreaterThanOrEqual(BUILD_MIN_BYTES);
    let at = 0;
    for (const p of pieces) {
      expect(p.from).toBe(at);
      at += p.chunks.length;
    }
    expect(pieces.flatMap((p) => p.chunks)).toEqual(big);
    expect(pieces.at(-1)!.done).toBe(true);
    expect(pieces.slice(0, -1).every((p) => !p.done)).toBe(true);
  });

  it('starts a file over when it is read again, and splits a long list at MAX_BUILD_CHUNKS', async () => {
    const { client, sent } = fakeDest();
    const hints = new BuildHints(client, 'vol', new AbortController().signal);
    const first: ChunkRef[] = Array.from({ length: 200 }, () => chunk(64 * 1024));
    hints.add('a.db', first, false, 'rp1');
    await hints.idle();
    const again: ChunkRef[] = Array.from({ length: MAX_BUILD_CHUNKS + 10 }, () => chunk(4096 * 4));
    hints.add('a.db', again.slice(0, 150), false, 'rp1'); // fewer than named: read again
    hints.add('a.db', again, true, 'rp1');
    await hints.idle();
    const later = sent.slice(1).flatMap((r) => r.files);
    expect(later[0]!.from).toBe(0);
    expect(later.flatMap((p) => p.chunks)).toEqual(again);
    for (const r of sent)
      expect(r.files.reduce((a, p) => a + p.chunks.length, 0)).toBeLessThanOrEqual(MAX_BUILD_CHUNKS);
  });

  it('stops naming after the destination refuses (an older agent without the route)', async () => {
    const { client, sent } = fakeDest(404);
    const hints = new BuildHints(client, 'vol', new AbortController().signal);
    hints.add(
      'a.db',
      Array.from({ length: 200 }, () => chunk(64 * 1024)),
      false,
      'rp1',
    );
    await hints.idle();
    hints.add(
      'b.db',
      Array.from({ length: 200 }, () => chunk(64 * 1024)),
      true,
      'rp1',
    );
    await hints.idle();
    expect(sent).toHaveLength(1);
  });
});

describe('parseBuildRequest', () => {
  const ok = {
    for: '20261202T101010Z-abcdef',
    files: [{ path: 'db/a', from: 0, chunks: [['a'.repeat(64), 10]], done: false }],
  };
  it('accepts a well-formed request', () => {
    expect(parseBuildRequest(ok, DEFAULT_LIMITS)).toEqual(ok);
  });
  it.each([
    [{ ...ok, for: 'x y' }, /^for "x y": not a restore point id/],
    [{ ...ok, files: 'no' }, /^files "no": must be an array/],
    [
      { ...ok, files: [{ ...ok.files[0], path: '../etc' }] },
      /^files\[0\]\.path "\.\.\/etc": contains a '\.\.' segment/,
    ],
    [{ ...ok, files: [{ ...ok.files[0], from: -1 }] }, /^files\[0\]\.from -1: must be a chunk index/],
    [{ ...ok, files: [{ ...ok.files[0], done: 'yes' }] }, /^files\[0\]\.done "yes": must be true or false/],
    [
      { ...ok, files: [{ ...ok.files[0], chunks: [['zz', 10]] }] },
      /^files\[0\]\.chunks\[0\] \["zz",10\]: must be \[64 hex digits, raw length/,
    ],
    [{ ...ok, files: [{ ...ok.files[0], chunks: [['a'.repeat(64), 0]] }] }, /^files\[0\]\.chunks\[0\]/],
  ])('refuses a bad field with a message naming it and its value (%#)', (body, message) => {
    expect(() => parseBuildRequest(body, DEFAULT_LIMITS)).toThrow(message);
  });
  it('refuses more than MAX_BUILD_CHUNKS chunks in one request', () => {
    const chunks = Array.from({ length: MAX_BUILD_CHUNKS + 1 }, () => ['b'.repeat(64), 1]);
    expect(() => parseBuildRequest({ ...ok, files: [{ ...ok.files[0], chunks }] }, DEFAULT_LIMITS)).toThrow(
      /more than 4096 chunks/,
    );
  });
});
