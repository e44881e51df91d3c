import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChunkStore } from '../../../datapath/store/chunk-store.js';
import { hashHex } from '../../../datapath/store/hash.js';
import type { FileEntry, Manifest } from '../../../datapath/protocol/manifest.js';
import { StandbyManager } from '../../../datapath/destination/standby.js';
import { copyDirect, mayRecycle } from '../../../datapath/destination/tree.js';
import { CommitWaits } from '../../../datapath/destination/commit-waits.js';
import { VOLUME_LOCK_WAIT } from '../../../datapath/protocol/agent-api.js';
import { manifest } from './manifests.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-standby-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * Puts `chunks` into the store and returns a manifest of one file made of them, once what `sm`'s
 * earlier commits pruned has been released: its garbage collection would take chunks put meanwhile
 * that nothing pins yet (a replication's upload session pins what it sends).
 */
async function fileManifest(
  sm: StandbyManager,
  store: ChunkStore,
  id: string,
  chunks: Buffer[],
): Promise<Manifest> {
  await sm.settled();
  const refs: Array<[string, number]> = [];
  for (const c of chunks) {
    const h = hashHex(c);
    await store.put(h, c);
    refs.push([h, c.length]);
  }
  const size = chunks.reduce((n, c) => n + c.length, 0);
  return manifest(
    [{ path: 'big.bin', type: 'file', mode: 0o644, size, mtimeMs: 1_700_000_000_000, chunks: refs }],
    { id },
  ) as unknown as Manifest;
}

describe('standby: patching a large changed file from its previous version', () => {
  test('copies the previous version, writes only changed chunks, keeps the old restore point intact', async () => {
    const store = await ChunkStore.open(path.join(dir, 'store'), { maxChunkSize: 256 * 1024 });
    const sm = await StandbyManager.open(dir, store, { fsync: false, retain: 3 });
    // 20 chunks of 100 KiB plus an odd tail: the size is not a whole number of 4 KiB blocks
    const v1 = [
      ...Array.from({ length: 20 }, () => crypto.randomBytes(100 * 1024)),
      crypto.randomBytes(12_345),
    ];
    const m1 = await fileManifest(sm, store, 'snap-1', v1);
    await sm.commit('vol', m1);
    const v2 = [...v1];
    v2[3] = crypto.randomBytes(100 * 1024);
    v2[20] = crypto.randomBytes(5_003);
    const m2 = await fileManifest(sm, store, 'snap-2', v2);
    const res = await sm.commit('vol', m2);
    expect(res.filesWritten).toBe(1);
    expect(res.bytesWritten).toBe(100 * 1024 + 5_003);
    const cur = fs.readFileSync(path.join(dir, 'standby', 'vol', 'current', 'big.bin'));
    expect(cur.equals(Buffer.concat(v2))).toBe(true);
    const old = fs.readFileSync(path.join(dir, 'standby', 'vol', 'rp', 'snap-1', 'big.bin'));
    expect(old.equals(Buffer.concat(v1))).toBe(true);
    // growing the file past its previous size also patches correctly
    const v3 = [...v2, crypto.randomBytes(70_001)];
    const m3 = await fileManifest(sm, store, 'snap-3', v3);
    await sm.commit('vol', m3);
    const grown = fs.readFileSync(path.join(dir, 'standby', 'vol', 'current', 'big.bin'));
    expect(grown.equals(Buffer.concat(v3))).toBe(true);
  });
});

describe("standby: recycling a retired restore point's version of a changed large file", () => {
  const rpFile = (id: string): string => path.join(dir, 'standby', 'vol', 'rp', id, 'big.bin');
  const current = (): Buffer => fs.readFileSync(path.join(dir, 'standby', 'vol', 'current', 'big.bin'));
  const openRetain2 = async (): Promise<{ store: ChunkStore; sm: StandbyManager }> => {
    const store = await ChunkStore.open(path.join(dir, 'store'), { maxChunkSize: 256 * 1024 });
    return { store, sm: await StandbyManager.open(dir, store, { fsync: false, retain: 2 }) };
  };
  const chunks20 = (): Buffer[] => Array.from({ length: 20 }, () => crypto.randomBytes(100 * 1024));
  const gen = (base: Buffer[], changes: number[]): Buffer[] => {
    const next = [...base];
    for (const i of changes) next[i] = crypto.randomBytes(100 * 1024);
    return next;
  };

  test('patches the version the commit retires with only the chunks changed since it, and keeps every kept restore point whole', async () => {
    const { store, sm } = await openRetain2();
    const v1 = [
      ...Array.from({ length: 20 }, () => crypto.randomBytes(100 * 1024)),
      crypto.randomBytes(12_345),
    ];
    const v2 = gen(v1, [3]);
    const v3 = gen(v2, [7, 11]);
    await sm.commit('vol', await fileManifest(sm, store, 'snap-1', v1));
    // two restore points, none to retire yet: the current version is copied and patched
    expect((await sm.commit('vol', await fileManifest(sm, store, 'snap-2', v2))).bytesWritten).toBe(
      100 * 1024,
    );
    expect(sm.recycledFiles).toBe(0);
    const third = await sm.commit('vol', await fileManifest(sm, store, 'snap-3', v3));
    // snap-1 goes out of retain: its big.bin became snap-3's, rewritten where v1 and v3 differ
    expect(sm.recycledFiles).toBe(1);
    expect(third.pruned).toEqual(['snap-1']);
    expect(third.bytesWritten).toBe(3 * 100 * 1024);
    expect(current().equals(Buffer.concat(v3))).toBe(true);
    expect(fs.readFileSync(rpFile('snap-2')).equals(Buffer.concat(v2))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'standby', 'vol', 'rp', 'snap-1'))).toBe(false);
    expect(fs.statSync(rpFile('snap-3'))).toMatchObject({
      size: Buffer.concat(v3).length,
      mtimeMs: 1_700_000_000_000,
    });
    expect(fs.statSync(rpFile('snap-3')).mode & 0o777).toBe(0o644);
    expect(sm.get('vol').restorePoints.map((r) => r.id)).toEqual(['snap-2', 'snap-3']);
    // a shrinking file: the recycled version is cut to the new size
    const v4 = gen(v3, [2]).slice(0, 15);
    await sm.commit('vol', await fileManifest(sm, store, 'snap-4', v4));
    expect(sm.recycledFiles).toBe(2);
    expect(current().equals(Buffer.concat(v4))).toBe(true);
    expect(fs.readFileSync(rpFile('snap-3')).equals(Buffer.concat(v3))).toBe(true);
    // and the restore points survive a restart as they are
    store.close();
    const store2 = await ChunkStore.open(path.join(dir, 'store'), { maxChunkSize: 256 * 1024 });
    const sm2 = await StandbyManager.open(dir, store2, { fsync: false, retain: 2 });
    expect(sm2.get('vol').restorePoints.map((r) => r.id)).toEqual(['snap-3', 'snap-4']);
    const promoted = await sm2.promote('vol', path.join(dir, 'volumes'), { restorePoint: 'snap-3' });
    expect(fs.readFileSync(path.join(promoted.path, 'big.bin')).equals(Buffer.concat(v3))).toBe(true);
    store2.close();
  });

  test('a prepare hint retires the restore point early and makes the copy by recycling it', async () => {
    const { store, sm } = await openRetain2();
    const v1 = chunks20();
    const v2 = gen(v1, [4]);
    const v3 = gen(v2, [6]);
    await sm.commit('vol', await fileManifest(sm, store, 'snap-1', v1));
    await sm.commit('vol', await fileManifest(sm, store, 'snap-2', v2));
    // the source names big.bin while it reads it: snap-1 is retired now, its big.bin patched to v2
    expect(sm.prepare('vol', ['big.bin'], 'snap-3')).toBe(1);
    const m3 = await fileManifest(sm, store, 'snap-3', v3);
    const res = await sm.commit('vol', m3);
    expect(sm.recycledFiles).toBe(1);
    expect(sm.prepared.counts).toEqual({ started: 1, taken: 1 });
    expect(res.pruned).toEqual(['snap-1']);
    expect(res.bytesWritten).toBe(100 * 1024); // only v2 -> v3 at commit time
    expect(current().equals(Buffer.concat(v3))).toBe(true);
    expect(fs.readFileSync(rpFile('snap-2')).equals(Buffer.concat(v2))).toBe(true);
    expect(sm.get('vol').restorePoints.map((r) => r.id)).toEqual(['snap-2', 'snap-3']);
    // nothing retired or copied is left behind in tmp/ once the commit's clean-up has run
    await new Promise((r) => setTimeout(r, 200));
    expect(fs.readdirSync(path.join(dir, 'standby', 'vol', 'tmp'))).toEqual([]);
    // a hint for a restore point already committed starts nothing and retires nothing
    expect(sm.prepare('vol', ['big.bin'], 'snap-3')).toBe(0);
    expect(sm.get('vol').restorePoints).toHaveLength(2);
    store.close();
  });

  test('recycles a tree shared by unchanged restore points once none of them is kept', async () => {
    const { store, sm } = await openRetain2();
    const v1 = chunks20();
    const v3 = gen(v1, [1]);
    const v4 = gen(v3, [9]);
    await sm.commit('vol', await fileManifest(sm, store, 'snap-1', v1));
    await sm.commit('vol', await fileManifest(sm, store, 'snap-2', v1)); // nothing changed: shares snap-1's tree
    expect(fs.readlinkSync(path.join(dir, 'standby', 'vol', 'rp', 'snap-2'))).toBe('snap-1');
    // snap-1 leaves, but snap-2 (kept) still uses its tree: nothing to recycle
    expect((await sm.commit('vol', await fileManifest(sm, store, 'snap-3', v3))).pruned).toEqual(['snap-1']);
    expect(sm.recycledFiles).toBe(0);
    // snap-2 leaves: the tree it shared is no one's now, and its big.bin becomes snap-4's
    const fourth = await sm.commit('vol', await fileManifest(sm, store, 'snap-4', v4));
    expect(fourth.pruned).toEqual(['snap-2']);
    expect(sm.recycledFiles).toBe(1);
    expect(fourth.bytesWritten).toBe(2 * 100 * 1024);
    expect(current().equals(Buffer.concat(v4))).toBe(true);
    expect(fs.readFileSync(rpFile('snap-3')).equals(Buffer.concat(v3))).toBe(true);
    expect(fs.readdirSync(path.join(dir, 'standby', 'vol', 'rp')).sort()).toEqual(['snap-3', 'snap-4']);
    store.close();
  });

  test('leaves a file the retired restore point shares with a kept one, and copies the current version instead', async () => {
    const { store, sm } = await openRetain2();
    const v1 = chunks20();
    const v3 = gen(v1, [5]);
    const m1 = await fileManifest(sm, store, 'snap-1', v1);
    await sm.commit('vol', m1);
    // snap-2: the same file plus another: big.bin is linked, so snap-1's copy has two links
    const m2 = manifest(
      [
        ...m1.entries,
        {
          path: 'note.txt',
          type: 'file',
          mode: 0o644,
          size: 2,
          mtimeMs: 1,
          chunks: [[hashHex(Buffer.from('hi')), 2]],
        },
      ],
      { id: 'snap-2' },
    ) as unknown as Manifest;
    await sm.settled(); // snap-1's garbage collection done: it would take an unpinned chunk put now
    await store.put(hashHex(Buffer.from('hi')), Buffer.from('hi'));
    await sm.commit('vol', m2);
    expect(fs.statSync(rpFile('snap-2')).nlink).toBe(2);
    const res = await sm.commit('vol', await fileManifest(sm, store, 'snap-3', v3));
    expect(sm.recycledFiles).toBe(0);
    expect(res.pruned).toEqual(['snap-1']);
    expect(current().equals(Buffer.concat(v3))).toBe(true);
    expect(fs.readFileSync(rpFile('snap-2')).equals(Buffer.concat(v1))).toBe(true);
    store.close();
  });
});

describe('standby: a large new file written with O_DIRECT', () => {
  test.each([
    ['ending inside a 4 KiB block', 90, 12_345],
    ['ending on a 4 KiB block', 100, 4096 * 3],
  ])('restores it byte for byte, %s, with its mode and mtime', async (_, n, tail) => {
    const store = await ChunkStore.open(path.join(dir, 'store'), { maxChunkSize: 256 * 1024 });
    const sm = await StandbyManager.open(dir, store, { fsync: false, retain: 3 });
    // more than one 8 MiB staging block, chunks of uneven sizes
    const chunks = [
      ...Array.from({ length: n }, (_, i) => crypto.randomBytes(100 * 1024 + (i % 7) * 1000)),
      crypto.randomBytes(tail),
    ];
    const size = chunks.reduce((a, c) => a + c.length, 0);
    expect(size).toBeGreaterThan(8 * 1024 * 1024);
    const res = await sm.commit('vol', await fileManifest(sm, store, 'snap-1', chunks));
    expect(res).toMatchObject({ filesWritten: 1, bytesWritten: size });
    const file = path.join(dir, 'standby', 'vol', 'current', 'big.bin');
    expect(fs.readFileSync(file).equals(Buffer.concat(chunks))).toBe(true);
    const st = fs.statSync(file);
    expect([st.size, st.mode & 0o777, st.mtimeMs]).toEqual([size, 0o644, 1_700_000_000_000]);
  });
});

describe('standby: copyDirect', () => {
  test.each([4096, 8 * 1024 * 1024, 8 * 1024 * 1024 + 4096 * 3 + 17, 20 * 1024 * 1024 + 1])(
    'copies %i bytes exactly',
    async (size) => {
      const src = path.join(dir, 'src.bin');
      const data = crypto.randomBytes(size + 999); // longer than `size`: only `size` bytes are copied
      fs.writeFileSync(src, data);
      const dst = path.join(dir, 'dst.bin');
      const done = await copyDirect(src, dst, size);
      if (!done) return; // no O_DIRECT on this filesystem: the caller falls back to copy_file_range
      expect(fs.readFileSync(dst).equals(data.subarray(0, size))).toBe(true);
    },
  );

  test('refuses a source shorter than the size asked for', async () => {
    const src = path.join(dir, 'short.bin');
    fs.writeFileSync(src, crypto.randomBytes(10_000));
    await expect(copyDirect(src, path.join(dir, 'out.bin'), 3 * 1024 * 1024)).rejects.toThrow(/shorter/);
  });
});

describe('standby: what a commit waits for', () => {
  test('CommitWaits names the longest-pending await, and forgets each once it settles, rejected or not', async () => {
    const w = new CommitWaits('vol', 'snap-1');
    expect(w.oldest()).toBeNull();
    let first!: () => void;
    let second!: (e: Error) => void;
    const a = w.track('prepared copy of a.db', new Promise<void>((r) => (first = r)));
    await new Promise((r) => setTimeout(r, 5));
    const b = w.track('written-ahead file b.db', new Promise<void>((_, j) => (second = j)));
    expect(w.size).toBe(2);
    expect(w.oldest()?.what).toBe('prepared copy of a.db');
    first();
    await a;
    expect(w.oldest()?.what).toBe('written-ahead file b.db');
    second(new Error('gone'));
    await expect(b).rejects.toThrow('gone');
    expect(w.size).toBe(0);
    expect(w.oldest()).toBeNull();
  });

  test("a volume's info lists its commits under way, a queued one waiting for the volume lock", async () => {
    const store = await ChunkStore.open(path.join(dir, 'store'), { maxChunkSize: 256 * 1024 });
    const sm = await StandbyManager.open(dir, store, { fsync: false, retain: 3 });
    const v1 = Array.from({ length: 4 }, () => crypto.randomBytes(64 * 1024));
    // a volume's first commit: no restore point yet, but the volume is found, with its commit
    expect(() => sm.get('vol')).toThrow('standby volume vol not found');
    const first = sm.commit('vol', await fileManifest(sm, store, 'snap-1', v1));
    const info = sm.get('vol');
    expect(info.restorePoints).toEqual([]);
    expect(info.current).toBeNull();
    expect(info.committing?.map((c) => c.restorePoint)).toEqual(['snap-1']);
    await first;
    expect(sm.get('vol').committing).toBeUndefined();
    const m2 = await fileManifest(sm, store, 'snap-2', [...v1, crypto.randomBytes(1000)]);
    const m3 = await fileManifest(sm, store, 'snap-3', [...v1, crypto.randomBytes(2000)]);
    // m3's new chunk is held for its commit, as a replication's session does (snap-2's gc runs first)
    const pin = store.pin();
    for (const e of m3.entries) if (e.type === 'file') for (const [h] of e.chunks) pin.add(h);
    const c2 = sm.commit('vol', m2);
    const c3 = sm.commit('vol', m3, { pin });
    const under = sm.get('vol').committing ?? [];
    expect(under.map((c) => [c.volume, c.restorePoint])).toEqual([
      ['vol', 'snap-2'],
      ['vol', 'snap-3'],
    ]);
    expect(under[1]?.waitingFor).toBe(VOLUME_LOCK_WAIT);
    await c2;
    expect(sm.commitsUnderWay().map((c) => c.restorePoint)).toEqual(['snap-3']);
    await c3;
    expect(sm.get('vol').committing).toBeUndefined();
    expect(sm.get('vol').current).toBe('snap-3');
    store.close();
  });
});

describe('standby: unchanged files are linked on the linker thread', () => {
  async function smallFiles(store: ChunkStore, id: string, bodies: Map<string, Buffer>, mtimeMs: number) {
    const entries: unknown[] = [{ path: 'd', type: 'dir', mode: 0o755 }];
    for (const [rel, body] of bodies) {
      const h = hashHex(body);
      await store.put(h, body);
      entries.push({
        path: rel,
        type: 'file',
        mode: 0o644,
        size: body.length,
        mtimeMs,
        chunks: [[h, body.length]],
      });
    }
    return manifest(entries, { id }) as unknown as Manifest;
  }

  test('links what is unchanged, writes what changed, and writes afresh a file whose link fails', async () => {
    const store = await ChunkStore.open(path.join(dir, 'store'), { maxChunkSize: 256 * 1024 });
    const sm = await StandbyManager.open(dir, store, { fsync: false, retain: 3 });
    const bodies = new Map(
      Array.from({ length: 40 }, (_, i) => [`d/f${i}`, crypto.randomBytes(100 + i * 37)]),
    );
    await sm.commit('vol', await smallFiles(store, 'snap-1', bodies, 1_700_000_000_000));
    const rp1 = path.join(dir, 'standby', 'vol', 'rp', 'snap-1');
    // f5 changes; f9's file vanishes from the first tree (drift), so its link fails
    bodies.set('d/f5', crypto.randomBytes(77));
    fs.chmodSync(path.join(rp1, 'd'), 0o755);
    fs.rmSync(path.join(rp1, 'd', 'f9'));
    await sm.settled(); // snap-1's garbage collection done: it would take unpinned chunks put now

    const res = await sm.commit('vol', await smallFiles(store, 'snap-2', bodies, 1_700_000_000_000));

    expect(res.filesLinked).toBe(38);
    expect(res.filesWritten).toBe(2);
    const rp2 = path.join(dir, 'standby', 'vol', 'rp', 'snap-2');
    for (const [rel, body] of bodies) expect(fs.readFileSync(path.join(rp2, rel)).equals(body)).toBe(true);
    expect(fs.statSync(path.join(rp2, 'd', 'f0')).ino).toBe(fs.statSync(path.join(rp1, 'd', 'f0')).ino);
    expect(fs.statSync(path.join(rp2, 'd', 'f9')).nlink).toBe(1);
    expect(fs.statSync(path.join(rp2, 'd', 'f5')).ino).not.toBe(fs.statSync(path.join(rp1, 'd', 'f5')).ino);
  });
});

describe('standby: an unchanged commit writes its record from the kept entries JSON', () => {
  test('before and after a reopen, the records read back as the manifests committed', async () => {
    const store = await ChunkStore.open(path.join(dir, 'store'), { maxChunkSize: 256 * 1024 });
    const body = crypto.randomBytes(5000);
    const h = hashHex(body);
    await store.put(h, body);
    const entries = [
      { path: 'd', type: 'dir', mode: 0o755 },
      {
        path: 'd/"odd",name',
        type: 'file',
        mode: 0o644,
        size: 5000,
        mtimeMs: 1_700_000_000_123.5,
        chunks: [[h, 5000]],
      },
      { path: 'd/l', type: 'symlink', target: '"odd",name' },
    ];
    const records = () => path.join(dir, 'standby', 'vol', 'manifests');
    const read = (id: string) => JSON.parse(fs.readFileSync(path.join(records(), `${id}.json`), 'utf8'));
    let sm = await StandbyManager.open(dir, store, { fsync: false, retain: 5 });
    await sm.commit('vol', manifest(entries, { id: 'snap-1' }) as unknown as Manifest);
    await sm.commit('vol', manifest(entries, { id: 'snap-2' }) as unknown as Manifest); // unchanged, kept JSON
    sm = await StandbyManager.open(dir, store, { fsync: false, retain: 5 });
    await sm.commit('vol', manifest(entries, { id: 'snap-3' }) as unknown as Manifest); // unchanged, JSON from the file
    const touched = entries.map((e) => (e.type === 'file' ? { ...e, mtimeMs: 1_800_000_000_000 } : e));
    await sm.commit('vol', manifest(touched, { id: 'snap-4' }) as unknown as Manifest);
    await sm.commit('vol', manifest(touched, { id: 'snap-5' }) as unknown as Manifest); // unchanged since snap-4
    sm = await StandbyManager.open(dir, store, { fsync: false, retain: 5 });
    for (const id of ['snap-1', 'snap-2', 'snap-3', 'snap-4', 'snap-5']) {
      const r = read(id);
      expect(r.manifest.id).toBe(id);
      expect(r.manifest.entries).toEqual(id < 'snap-4' ? entries : touched);
      expect(sm.get('vol').restorePoints.map((p) => p.id)).toContain(id);
    }
    expect(read('snap-3').tree).toBe('snap-1');
    expect(fs.readFileSync(path.join(dir, 'standby', 'vol', 'current', 'd', '"odd",name')).equals(body)).toBe(
      true,
    );
  });
});

describe('standby: the chunks a commit checks', () => {
  test('a chunk of a changed file that never arrived fails the commit with 409 missing_chunks naming it', async () => {
    const store = await ChunkStore.open(path.join(dir, 'store'), { maxChunkSize: 256 * 1024 });
    const sm = await StandbyManager.open(dir, store, { fsync: false, retain: 3 });
    const a = crypto.randomBytes(3000);
    await store.put(hashHex(a), a);
    const m1 = manifest(
      [
        {
          path: 'a',
          type: 'file',
          mode: 0o644,
          size: a.length,
          mtimeMs: 1,
          chunks: [[hashHex(a), a.length]],
        },
      ],
      { id: 'snap-1' },
    ) as unknown as Manifest;
    await sm.commit('vol', m1);
    const b = crypto.randomBytes(2000);
    const m2 = manifest(
      [
        m1.entries[0], // unchanged: its list is the current restore point's
        {
          path: 'b',
          type: 'file',
          mode: 0o644,
          size: b.length,
          mtimeMs: 1,
          chunks: [[hashHex(b), b.length]],
        },
      ],
      { id: 'snap-2' },
    ) as unknown as Manifest;
    await expect(sm.commit('vol', m2)).rejects.toMatchObject({
      code: 'missing_chunks',
      details: { missing: [hashHex(b)], missingCount: 1 },
    });
    await store.put(hashHex(b), b);
    await sm.commit('vol', m2);
    expect(fs.readFileSync(path.join(dir, 'standby', 'vol', 'current', 'b')).equals(b)).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'standby', 'vol', 'current', 'a')).equals(a)).toBe(true);
  });
});

describe('standby: what a commit prunes is released after it has answered', () => {
  async function oneFile(store: ChunkStore, id: string, body: Buffer): Promise<Manifest> {
    const h = hashHex(body);
    await store.put(h, body);
    return manifest(
      [
        {
          path: 'a',
          type: 'file',
          mode: 0o644,
          size: body.length,
          mtimeMs: 1_700_000_000_000,
          chunks: [[h, body.length]],
        },
      ],
      { id },
    ) as unknown as Manifest;
  }

  test('the pruned restore point is gone from every read at once; its tree and chunks once released', async () => {
    const store = await ChunkStore.open(path.join(dir, 'store'), { maxChunkSize: 256 * 1024 });
    const sm = await StandbyManager.open(dir, store, { fsync: false, retain: 2 });
    const bodies = [1, 2, 3].map(() => crypto.randomBytes(5000));
    for (const [i, b] of bodies.entries()) {
      await sm.settled();
      const res = await sm.commit('vol', await oneFile(store, `snap-${i + 1}`, b));
      if (i < 2) continue;
      // answered: snap-1 is no longer a restore point anywhere a reader looks
      expect(res.pruned).toEqual(['snap-1']);
      expect(sm.get('vol').restorePoints.map((r) => r.id)).toEqual(['snap-2', 'snap-3']);
      expect(fs.readdirSync(path.join(dir, 'standby', 'vol', 'manifests')).sort()).toEqual([
        'snap-2.json',
        'snap-3.json',
      ]);
      expect(() => sm.manifest('vol', 'snap-1')).toThrow(/snap-1/);
    }
    await sm.settled();
    expect(fs.readdirSync(path.join(dir, 'standby', 'vol', 'rp')).sort()).toEqual(['snap-2', 'snap-3']);
    expect(bodies.map((b) => store.has(hashHex(b)))).toEqual([false, true, true]);
    // a reopened agent finds the same
    const again = await StandbyManager.open(dir, store, { fsync: false, retain: 2 });
    expect(again.get('vol').restorePoints.map((r) => r.id)).toEqual(['snap-2', 'snap-3']);
    store.close();
  });

  test('the next commit waits for the release; a failed one is reported and loses nothing', async () => {
    const store = await ChunkStore.open(path.join(dir, 'store'), { maxChunkSize: 256 * 1024 });
    const errors: string[] = [];
    const sm = await StandbyManager.open(dir, store, {
      fsync: false,
      retain: 1,
      onError: (what, err) => errors.push(`${what}: ${(err as Error).message}`),
    });
    const b1 = crypto.randomBytes(3000);
    await sm.commit('vol', await oneFile(store, 'snap-1', b1));
    await sm.settled();
    const realGc = store.gc.bind(store);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let gcReached!: () => void;
    const inGc = new Promise<void>((r) => (gcReached = r));
    store.gc = async () => {
      gcReached();
      await held;
      throw new Error('the disk went away');
    };
    const b2 = crypto.randomBytes(3000);
    const m2 = await oneFile(store, 'snap-2', b2);
    expect((await sm.commit('vol', m2)).pruned).toEqual(['snap-1']);
    const b3 = crypto.randomBytes(3000);
    const m3 = await oneFile(store, 'snap-3', b3);
    const third = sm.commit('vol', m3);
    // the release is inside its collection (however long its steps before took), the commit waits
    await inGc;
    await new Promise((r) => setTimeout(r, 20));
    expect(sm.get('vol').committing?.map((c) => [c.restorePoint, c.waitingFor])).toEqual([
      ['snap-3', VOLUME_LOCK_WAIT],
    ]);
    store.gc = realGc;
    release();
    expect((await third).pruned).toEqual(['snap-2']);
    await sm.settled();
    expect(errors).toEqual(['releasing restore points snap-1 of vol: the disk went away']);
    expect(sm.get('vol').restorePoints.map((r) => r.id)).toEqual(['snap-3']);
    expect(fs.readFileSync(path.join(dir, 'standby', 'vol', 'current', 'a')).equals(b3)).toBe(true);
    // the next release's collection took what the failed one left
    expect([b1, b2, b3].map((b) => store.has(hashHex(b)))).toEqual([false, false, true]);
    store.close();
  });
});

describe('mayRecycle', () => {
  const big = 2 * 1024 * 1024;
  const file = (p: string, size: number, hash = 'a', mtimeMs = 1): FileEntry => ({
    path: p,
    type: 'file',
    mode: 0o644,
    size,
    mtimeMs,
    chunks: [[hash.repeat(64), size]],
  });
  const m = (...entries: FileEntry[]): Manifest => manifest(entries) as unknown as Manifest;
  test.each([
    ['nothing changed', m(file('db', big), file('s', 10)), m(file('db', big), file('s', 10)), false],
    [
      'only small files changed',
      m(file('db', big), file('s', 10)),
      m(file('db', big), file('s', 10, 'b')),
      false,
    ],
    ['a large file changed', m(file('db', big)), m(file('db', big, 'b')), true],
    ['a large file touched', m(file('db', big)), m(file('db', big, 'a', 2)), true],
    ['a large file new', m(file('s', 10)), m(file('s', 10), file('db', big)), true],
    ['a small file grew large', m(file('db', 10)), m(file('db', big, 'b')), true],
    ['a large file removed', m(file('db', big)), m(), false],
  ])('%s', (_what, prev, next, expected) => {
    expect(mayRecycle(prev, next)).toBe(expected);
  });
});
