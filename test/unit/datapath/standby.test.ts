import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChunkStore } from '../../../datapath/store/chunk-store.js';
import { hashHex } from '../../../datapath/store/hash.js';
import type { Manifest } from '../../../datapath/protocol/manifest.js';
import { StandbyManager } from '../../../datapath/destination/standby.js';
import { copyDirect } from '../../../datapath/destination/tree.js';
import { manifest } from './manifests.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-standby-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

async function fileManifest(store: ChunkStore, id: string, chunks: Buffer[]): Promise<Manifest> {
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
    const m1 = await fileManifest(store, 'snap-1', v1);
    await sm.commit('vol', m1);
    const v2 = [...v1];
    v2[3] = crypto.randomBytes(100 * 1024);
    v2[20] = crypto.randomBytes(5_003);
    const m2 = await fileManifest(store, 'snap-2', v2);
    const res = await sm.commit('vol', m2);
    expect(res.filesWritten).toBe(1);
    expect(res.bytesWritten).toBe(100 * 1024 + 5_003);
    const cur = fs.readFileSync(path.join(dir, 'standby', 'vol', 'current', 'big.bin'));
    expect(cur.equals(Buffer.concat(v2))).toBe(true);
    const old = fs.readFileSync(path.join(dir, 'standby', 'vol', 'rp', 'snap-1', 'big.bin'));
    expect(old.equals(Buffer.concat(v1))).toBe(true);
    // growing the file past its previous size also patches correctly
    const v3 = [...v2, crypto.randomBytes(70_001)];
    const m3 = await fileManifest(store, 'snap-3', v3);
    await sm.commit('vol', m3);
    const grown = fs.readFileSync(path.join(dir, 'standby', 'vol', 'current', 'big.bin'));
    expect(grown.equals(Buffer.concat(v3))).toBe(true);
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
    const res = await sm.commit('vol', await fileManifest(store, 'snap-1', chunks));
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
