import { jest } from '@jest/globals';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Chunker } from '../../../datapath/store/chunker.js';
import { ChunkStore } from '../../../datapath/store/chunk-store.js';
import type { FileEntry, Manifest } from '../../../datapath/protocol/manifest.js';
import { DEFAULT_HASH, type HashAlgorithm, hashHex } from '../../../datapath/store/hash.js';
import type { ChunkEvent } from '../../../datapath/source/snapshot.js';
import { RACY_MARGIN_MS, takeSnapshot } from '../../../datapath/source/snapshot.js';

let root: string;
let vol: string;
let store: ChunkStore;
beforeEach(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-snap-'));
  vol = path.join(root, 'vol');
  fs.mkdirSync(path.join(vol, 'd'), { recursive: true });
  fs.writeFileSync(path.join(vol, 'd', 'a.bin'), crypto.randomBytes(300_000));
  fs.writeFileSync(path.join(vol, 'b.txt'), 'hello '.repeat(10_000));
  fs.writeFileSync(path.join(vol, 'empty'), '');
  fs.symlinkSync('d/a.bin', path.join(vol, 'link'));
  store = await ChunkStore.open(path.join(root, 'chunks'), { maxChunkSize: 256 * 1024 });
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

async function snap(id: string, parent: Manifest | null, full = false, hash?: HashAlgorithm) {
  const pin = store.pin();
  const r = await takeSnapshot(vol, {
    id,
    volume: 'vol',
    full,
    parent,
    store,
    chunker: new Chunker(),
    pin,
    ...(hash ? { hash } : {}),
  });
  store.ref(new Set(r.manifest.entries.flatMap((e) => (e.type === 'file' ? e.chunks.map((c) => c[0]) : []))));
  store.release(pin);
  return r;
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, RACY_MARGIN_MS + 50));

describe('takeSnapshot', () => {
  it('lists every entry with parents first and captures chunks into the store', async () => {
    await settle();
    const { manifest, stats } = await snap('s1', null);
    expect(manifest.entries.map((e) => `${e.type}:${e.path}`)).toEqual([
      'file:b.txt',
      'dir:d',
      'file:d/a.bin',
      'file:empty',
      'symlink:link',
    ]);
    const a = manifest.entries.find((e) => e.path === 'd/a.bin') as FileEntry;
    expect(a.size).toBe(300_000);
    expect(a.chunks.reduce((x, c) => x + c[1], 0)).toBe(300_000);
    for (const [h] of a.chunks) expect(store.has(h)).toBe(true);
    expect(stats.filesRead).toBe(3);
    expect(stats.chunksCompressed).toBeGreaterThan(0); // b.txt compresses
  });

  it('an unchanged volume reads no file contents; a changed file is re-read', async () => {
    await settle();
    const first = await snap('s1', null);
    const second = await snap('s2', first.manifest);
    expect(second.stats.filesRead).toBe(0);
    expect(second.stats.bytesRead).toBe(0);
    expect(second.stats.filesReused).toBe(3);
    expect(second.manifest.entries).toEqual(first.manifest.entries);
    fs.appendFileSync(path.join(vol, 'b.txt'), 'more');
    await settle();
    const third = await snap('s3', second.manifest);
    expect(third.stats.filesRead).toBe(1);
    expect(third.stats.chunksNew).toBeGreaterThanOrEqual(1);
  });

  it("names a new volume's chunks by the default hash (BLAKE3 here), or the one asked for", async () => {
    expect(DEFAULT_HASH).toBe('blake3'); // the native module is a dependency: it must load in CI
    for (const hash of [undefined, 'sha256', 'blake3'] as const) {
      const { manifest } = await snap(`s-${hash ?? 'default'}`, null, false, hash);
      expect(manifest.hash).toBe(hash ?? DEFAULT_HASH);
      const a = manifest.entries.find((e) => e.path === 'd/a.bin') as FileEntry;
      const raw = fs.readFileSync(path.join(vol, 'd', 'a.bin'));
      let at = 0;
      for (const [h, len] of a.chunks) {
        expect(h).toBe(hashHex(raw.subarray(at, at + len), manifest.hash));
        expect((await store.readRaw(h)).equals(raw.subarray(at, at + len))).toBe(true);
        at += len;
      }
    }
  });

  it("a volume keeps its first snapshot's hash for its chain, full snapshots included", async () => {
    await settle();
    const first = await snap('s1', null, false, 'sha256');
    fs.appendFileSync(path.join(vol, 'b.txt'), 'more');
    await settle();
    const second = await snap('s2', first.manifest, false, 'blake3');
    const third = await snap('s3', second.manifest, true, 'blake3');
    expect([second.manifest.hash, third.manifest.hash]).toEqual(['sha256', 'sha256']);
    // the full one re-read every file and found every chunk already stored under its sha256 name
    expect(third.stats.filesRead).toBe(3);
    expect(third.stats.chunksNew).toBe(0);
    const b = third.manifest.entries.find((e) => e.path === 'b.txt') as FileEntry;
    const raw = fs.readFileSync(path.join(vol, 'b.txt'));
    expect(b.chunks[0]![0]).toBe(hashHex(raw.subarray(0, b.chunks[0]![1]), 'sha256'));
  });

  it('full mode ignores the parent and re-reads everything', async () => {
    await settle();
    const first = await snap('s1', null);
    const full = await snap('s2', first.manifest, true);
    expect(full.stats.filesRead).toBe(3);
    expect(full.manifest.entries.map((e) => e.path)).toEqual(first.manifest.entries.map((e) => e.path));
  });

  it('files modified just before the walk are re-read next time (racy)', async () => {
    // A clock-independent "just modified": mtimes ahead of the walk's start. Relying on the
    // beforeEach writes being < RACY_MARGIN_MS old failed on a loaded CI machine.
    const soon = new Date(Date.now() + 60_000);
    for (const f of ['d/a.bin', 'b.txt', 'empty']) fs.utimesSync(path.join(vol, f), soon, soon);
    const first = await snap('s1', null);
    const second = await snap('s2', first.manifest);
    expect(second.stats.filesRead).toBe(3);
  });

  it('skips device files, FIFOs and sockets and reports them', async () => {
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [path.join(vol, 'pipe')]);
    const { stats, manifest } = await snap('s1', null);
    expect(stats.skipped).toEqual([{ path: 'pipe', type: 'fifo' }]);
    expect(manifest.entries.some((e) => e.path === 'pipe')).toBe(false);
  });

  it('streams each distinct chunk of the files it reads through onChunk, once it is stored', async () => {
    fs.writeFileSync(path.join(vol, 'big.bin'), crypto.randomBytes(3 << 20)); // read asynchronously
    await settle();
    const events: ChunkEvent[] = [];
    const pin = store.pin();
    const { manifest, stats } = await takeSnapshot(vol, {
      id: 's1',
      volume: 'vol',
      full: false,
      parent: null,
      store,
      chunker: new Chunker(),
      pin,
      onChunk: (c) => {
        expect(store.readStored(c.hash).length).toBeGreaterThan(0);
        events.push(c);
      },
    });
    const all = new Map(
      manifest.entries.flatMap((e) => (e.type === 'file' ? e.chunks : [])).map(([h, n]) => [h, n]),
    );
    expect(events.map((e) => e.hash).sort()).toEqual([...all.keys()].sort());
    expect(events.filter((e) => e.stored).length).toBe(stats.chunksNew);
    expect(stats.chunksNew).toBe(store.count);
    for (const e of events) expect(e.size).toBe(all.get(e.hash));
    // incremental: only the changed file's chunks are reported
    store.ref(all.keys());
    store.release(pin);
    fs.appendFileSync(path.join(vol, 'b.txt'), 'more');
    await settle();
    const later: ChunkEvent[] = [];
    const pin2 = store.pin();
    const second = await takeSnapshot(vol, {
      id: 's2',
      volume: 'vol',
      full: false,
      parent: manifest,
      store,
      chunker: new Chunker(),
      pin: pin2,
      onChunk: (c) => later.push(c),
    });
    store.release(pin2);
    const b = second.manifest.entries.find((e) => e.path === 'b.txt') as FileEntry;
    expect(later.map((e) => e.hash).sort()).toEqual([...new Set(b.chunks.map((c) => c[0]))].sort());
  });

  it('full mode rewrites a chunk whose stored copy has drifted', async () => {
    await settle();
    const first = await snap('s1', null);
    const a = first.manifest.entries.find((e) => e.path === 'd/a.bin') as FileEntry;
    const loc = store.locate(a.chunks[0]![0])!;
    const fd = fs.openSync(loc.file, 'r+');
    fs.writeSync(fd, Buffer.from([1, 2, 3, 4]), 0, 4, loc.storedOffset + 10);
    fs.closeSync(fd);
    const full = await snap('s2', first.manifest, true);
    expect(full.stats.chunksNew).toBe(1);
    expect(hashHex(await store.readRaw(a.chunks[0]![0]), full.manifest.hash)).toBe(a.chunks[0]![0]);
  });

  it('refuses a volume holding a symlink that escapes it', async () => {
    fs.symlinkSync('../../etc/passwd', path.join(vol, 'd', 'evil'));
    await expect(snap('s1', null)).rejects.toThrow(
      /symlink "d\/evil" -> "..\/..\/etc\/passwd" escapes the volume/,
    );
  });
});

describe('SnapshotManager.take', () => {
  it('keeps snapshot chunks referenced through shared lists, and counts their distinct chunks', async () => {
    const { SnapshotManager } = await import('../../../datapath/source/volumes.js');
    const { manifestChunks } = await import('../../../datapath/protocol/manifest.js');
    const m = await SnapshotManager.open(path.join(root, 'agent'), store, new Chunker(), {
      retain: 1,
      compress: true,
      fsync: false,
    });
    await m.createVolume('v');
    const dir = m.volumePath('v');
    fs.writeFileSync(path.join(dir, 'a.bin'), crypto.randomBytes(700_000));
    fs.writeFileSync(path.join(dir, 'b.bin'), crypto.randomBytes(300_000));
    const first = await m.take('v');
    await settle(); // past the racy margin: the next snapshot re-reads both files and records them
    const second = await m.take('v'); // retain 1: the first one is pruned
    const third = await m.take('v'); // reuses both files: the second's lists

    const chunks = manifestChunks(m.manifest('v', third.id));
    expect([second.stats.filesReused, third.stats.filesReused]).toEqual([0, 2]);
    expect([first.uniqueChunks, second.uniqueChunks, third.uniqueChunks]).toEqual([
      chunks.size,
      chunks.size,
      chunks.size,
    ]);
    expect(m.list('v').map((s) => s.id)).toEqual([third.id]);
    await store.gc(); // with no snapshot being taken (its pin held the reused chunks)
    for (const h of chunks.keys()) expect(store.has(h)).toBe(true); // not collected with the pruned ones
    fs.writeFileSync(path.join(dir, 'b.bin'), crypto.randomBytes(100_000)); // fewer chunks
    const fourth = await m.take('v');
    const after = manifestChunks(m.manifest('v', fourth.id));
    expect(fourth.uniqueChunks).toBe(after.size);
    expect(after.size).toBeLessThan(chunks.size);
    const gone = [...chunks.keys()].filter((h) => !after.has(h));
    expect(gone.length).toBeGreaterThan(0);
    await store.gc();
    for (const h of gone) expect(store.has(h)).toBe(false); // b.bin's old chunks, released
    for (const h of after.keys()) expect(store.has(h)).toBe(true);
  });

  it("shares unchanged files' chunk lists again after a restart, and keeps their chunks", async () => {
    const { SnapshotManager } = await import('../../../datapath/source/volumes.js');
    const { manifestChunks } = await import('../../../datapath/protocol/manifest.js');
    const opts = { retain: 2, compress: true, fsync: false };
    const agent = path.join(root, 'agent');
    let m = await SnapshotManager.open(agent, store, new Chunker(), opts);
    await m.createVolume('v');
    const dir = m.volumePath('v');
    fs.writeFileSync(path.join(dir, 'a.bin'), crypto.randomBytes(700_000));
    await m.take('v');
    await settle();
    const b = await m.take('v'); // records a.bin's identity
    const c = await m.take('v'); // reuses it
    const listOf = (id: string): unknown => (m.manifest('v', id).entries[0] as FileEntry).chunks;
    expect(listOf(c.id)).toBe(listOf(b.id));
    await store.sealed();
    store.close();
    store = await ChunkStore.open(path.join(root, 'chunks'), { maxChunkSize: 256 * 1024 });
    m = await SnapshotManager.open(agent, store, new Chunker(), opts);
    expect(listOf(c.id)).toBe(listOf(b.id)); // read from two files, one list again
    const d = await m.take('v'); // prunes b
    expect(m.list('v').map((s) => s.id)).toEqual([c.id, d.id]);
    await store.gc();
    for (const h of manifestChunks(m.manifest('v', d.id)).keys()) expect(store.has(h)).toBe(true);
  });
});

describe('SnapshotManager.take with deferCompaction', () => {
  it('prunes and drops dead chunks, and leaves the compaction of half-dead packs to compact()', async () => {
    const { SnapshotManager } = await import('../../../datapath/source/volumes.js');
    const small = await ChunkStore.open(path.join(root, 'small-packs'), {
      maxChunkSize: 256 * 1024,
      packBytes: 256 * 1024,
    });
    const m = await SnapshotManager.open(path.join(root, 'agent'), small, new Chunker(), {
      retain: 1,
      compress: false,
      fsync: false,
    });
    await m.createVolume('v');
    const dir = m.volumePath('v');
    // a.bin (read first) and b.bin's first chunks share a pack: once b.bin is rewritten, that pack
    // is mostly dead, a.bin's chunk live in it
    fs.writeFileSync(path.join(dir, 'a.bin'), crypto.randomBytes(5_000));
    fs.writeFileSync(path.join(dir, 'b.bin'), crypto.randomBytes(900_000));
    const first = await m.take('v');
    await settle();
    fs.writeFileSync(path.join(dir, 'b.bin'), crypto.randomBytes(900_000));
    const second = await m.take('v', { deferCompaction: true });
    expect(m.list('v').map((s) => s.id)).toEqual([second.id]); // first pruned
    const live = [...manifestChunksOf(m.manifest('v', second.id))];
    expect(first.id).not.toBe(second.id);
    const disk = small.diskBytes;
    const r = await m.compact();
    expect(r.deleted).toBe(0); // dropped by take() already
    expect(r.packsCompacted).toBeGreaterThan(0);
    expect(small.diskBytes).toBeLessThan(disk);
    const alg = m.manifest('v', second.id).hash;
    for (const h of live) expect(hashHex(await small.readRaw(h), alg)).toBe(h);
    small.close();
  });
});

function manifestChunksOf(m: Manifest): Set<string> {
  const out = new Set<string>();
  for (const e of m.entries) if (e.type === 'file') for (const [h] of e.chunks) out.add(h);
  return out;
}

describe('SnapshotManager records', () => {
  const opts = { retain: 3, compress: true, fsync: false };
  const recordOf = (agent: string, id: string): { manifest: Manifest } =>
    JSON.parse(fs.readFileSync(path.join(agent, 'snapshots', 'v', `${id}.json`), 'utf8')) as {
      manifest: Manifest;
    };

  it("writes an unchanged snapshot's entries from its parent's JSON, before and after a restart, and a changed one afresh", async () => {
    const { SnapshotManager } = await import('../../../datapath/source/volumes.js');
    const agent = path.join(root, 'agent');
    let m = await SnapshotManager.open(agent, store, new Chunker(), opts);
    await m.createVolume('v');
    const dir = m.volumePath('v');
    fs.mkdirSync(path.join(dir, 'd'));
    fs.writeFileSync(path.join(dir, 'd', 'a.bin'), crypto.randomBytes(300_000));
    fs.writeFileSync(path.join(dir, 'b.txt'), 'b');
    fs.symlinkSync('d/a.bin', path.join(dir, 'link'));
    await m.take('v');
    await settle(); // past the racy margin: the next snapshot records the files' identities
    await m.take('v');
    const stringified: unknown[] = [];
    const real = JSON.stringify.bind(JSON);
    const spy = jest
      .spyOn(JSON, 'stringify')
      .mockImplementation((v: unknown, replacer?: (string | number)[] | null, space?: string | number) => {
        stringified.push(v);
        return real(v, replacer, space);
      });
    const entriesWritten = (id: string): boolean => stringified.includes(m.manifest('v', id).entries);
    try {
      const same = await m.take('v');
      expect(same.stats.filesReused).toBe(2);
      expect(entriesWritten(same.id)).toBe(false); // from the parent's text
      expect(recordOf(agent, same.id).manifest).toEqual(m.manifest('v', same.id));

      await store.sealed();
      store.close();
      store = await ChunkStore.open(path.join(root, 'chunks'), { maxChunkSize: 256 * 1024 });
      m = await SnapshotManager.open(agent, store, new Chunker(), opts);
      const reopened = await m.take('v'); // the parent's JSON cut out of its file
      expect(entriesWritten(reopened.id)).toBe(false);
      expect(recordOf(agent, reopened.id).manifest).toEqual(m.manifest('v', reopened.id));

      // a folder's mode and a file's identity change, the files' contents do not
      fs.chmodSync(path.join(dir, 'd'), 0o700);
      fs.utimesSync(path.join(dir, 'b.txt'), new Date(), new Date(Date.now() - 60_000));
      const changed = await m.take('v');
      expect(changed.stats.filesReused).toBe(1);
      expect(entriesWritten(changed.id)).toBe(true);
      const rec = recordOf(agent, changed.id).manifest;
      expect(rec).toEqual(m.manifest('v', changed.id));
      expect(rec.entries.find((e) => e.path === 'd')).toMatchObject({ mode: 0o700 });
      await settle();
      const next = await m.take('v'); // b.txt was racy (ctime now): re-read, identity recorded
      expect(entriesWritten(next.id)).toBe(true);
      const after = await m.take('v');
      expect(entriesWritten(after.id)).toBe(false);
      expect(recordOf(agent, after.id).manifest).toEqual(m.manifest('v', after.id));
    } finally {
      spy.mockRestore();
    }
  });
});

describe('onRereadChunks', () => {
  it("places every new chunk of a changed large file before onChunk reports it, at its final offset, and never a new file's", async () => {
    const big = path.join(vol, 'big.db');
    fs.writeFileSync(big, crypto.randomBytes(24 << 20)); // three 8 MiB read blocks
    await settle();
    const first = (await snap('s1', null)).manifest;
    const fd = fs.openSync(big, 'r+');
    for (const at of [1, 9, 17, 23]) fs.writeSync(fd, crypto.randomBytes(4096), 0, 4096, at << 20);
    fs.closeSync(fd);
    fs.writeFileSync(path.join(vol, 'new.db'), crypto.randomBytes(3 << 20));
    await settle();
    const placed = new Map<string, { path: string; at: number }>();
    const reported: Array<{ hash: string; placedFirst: boolean }> = [];
    const calls: Array<[string, boolean]> = [];
    const pin = store.pin();
    const { manifest } = await takeSnapshot(vol, {
      id: 's2',
      volume: 'vol',
      full: false,
      parent: first,
      store,
      chunker: new Chunker(),
      pin,
      onRereadChunks: (p, chunks, done) => {
        calls.push([p, done]);
        let at = 0;
        for (const [h, n] of chunks) {
          if (!placed.has(h)) placed.set(h, { path: p, at });
          at += n;
        }
      },
      onChunk: (c) => {
        if (c.stored) reported.push({ hash: c.hash, placedFirst: placed.has(c.hash) });
      },
    });
    store.release(pin);
    expect(new Set(calls.map(([p]) => p))).toEqual(new Set(['big.db']));
    expect(calls.at(-1)).toEqual(['big.db', true]);
    expect(calls.length).toBeGreaterThan(2); // after each block, then done
    const e = manifest.entries.find((x) => x.path === 'big.db') as FileEntry;
    const before = new Set(
      (first.entries.find((x) => x.path === 'big.db') as FileEntry).chunks.map(([h]) => h),
    );
    const changed = e.chunks.filter(([h]) => !before.has(h)).map(([h]) => h);
    expect(changed.length).toBeGreaterThanOrEqual(4);
    const bigReported = reported.filter((r) => changed.includes(r.hash));
    expect(bigReported.map((r) => r.hash).sort()).toEqual([...changed].sort());
    expect(bigReported.every((r) => r.placedFirst)).toBe(true);
    let at = 0;
    for (const [h, n] of e.chunks) {
      expect(placed.get(h)).toEqual({ path: 'big.db', at }); // random data: no chunk twice
      at += n;
    }
  });
});
