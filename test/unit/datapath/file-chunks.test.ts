// FileChunks (destination/file-chunks.ts): chunks kept in restore points' large files. When a tree
// leaves, every chunk it held must stay readable from a kept tree (at the same path or anywhere in
// a kept tree's large files), or be handed back for a pack when it is still wanted.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { FileChunks } from '../../../datapath/destination/file-chunks.js';
import { hashHex } from '../../../datapath/store/hash.js';
import { BUILD_MIN_BYTES } from '../../../datapath/protocol/limits.js';
import type { ChunkRef, FileEntry, Manifest } from '../../../datapath/protocol/manifest.js';
import { manifest } from './manifests.js';
import { tempDir } from '../../harness/temp-dir.js';

const root = tempDir('ferry-file-chunks-');

/** Chunks of 1 MiB of random bytes, enough of them for a large file. */
const chunks = (n: number): Buffer[] => Array.from({ length: n }, () => crypto.randomBytes(1 << 20));
const perFile = Math.ceil(BUILD_MIN_BYTES / (1 << 20));

/** Writes a tree of large files (path → chunks) and returns it with its manifest. */
function tree(dir: string, files: Record<string, Buffer[]>): { tree: string; manifest: Manifest } {
  fs.mkdirSync(dir, { recursive: true });
  const entries: FileEntry[] = Object.entries(files).map(([rel, cs]) => {
    fs.writeFileSync(path.join(dir, rel), Buffer.concat(cs));
    const refs = cs.map((c): ChunkRef => [hashHex(c), c.length]);
    return { path: rel, type: 'file', mode: 0o644, size: cs.length << 20, mtimeMs: 0, chunks: refs };
  });
  return { tree: dir, manifest: manifest(entries) as unknown as Manifest };
}

describe('FileChunks.leave', () => {
  it('moves the chunks of a leaving tree to the kept trees holding them, and hands back the rest', async () => {
    const dir = fs.mkdtempSync(path.join(root, 't-'));
    const same = chunks(perFile);
    const changed = chunks(perFile);
    const old = tree(path.join(dir, 'rp1'), { 'same.db': same, 'changed.db': changed });
    // rp2: same.db unchanged; changed.db with its first chunk replaced and its last chunk moved to
    // the front of another file (so only the chunk-by-chunk search finds it there)
    const fresh = crypto.randomBytes(1 << 20);
    const last = changed[changed.length - 1] as Buffer;
    const kept = tree(path.join(dir, 'rp2'), {
      'same.db': same,
      'changed.db': [fresh, ...changed.slice(1, -1), ...chunks(2)],
      'other.db': [last, ...chunks(perFile - 1)],
    });
    const fc = new FileChunks(() => false);
    fc.index(old.tree, old.manifest);
    const gone = hashHex(changed[0] as Buffer); // only rp1 holds it
    const wanted = new Set([gone]);
    const out = await fc.leave(old.tree, [kept], (h) => wanted.has(h));
    expect(out.map((o) => o.hex)).toEqual([gone]);
    expect(out[0]?.raw?.equals(changed[0] as Buffer)).toBe(true);
    expect(fc.has(gone)).toBe(false);
    // rp1's files are gone: every other chunk reads from rp2, with its own bytes
    fs.rmSync(old.tree, { recursive: true });
    for (const c of [...same, ...changed.slice(1)]) expect((await fc.read(hashHex(c)))?.equals(c)).toBe(true);
  });

  it('a chunk nothing wants is dropped without being read', async () => {
    const dir = fs.mkdtempSync(path.join(root, 't-'));
    const cs = chunks(perFile);
    const old = tree(path.join(dir, 'rp1'), { 'a.db': cs });
    const fc = new FileChunks(() => false);
    fc.index(old.tree, old.manifest);
    const out = await fc.leave(old.tree, [], () => false);
    expect(out.map((o) => o.raw)).toEqual(cs.map(() => null));
    expect(new Set(out.map((o) => o.hex))).toEqual(new Set(cs.map((c) => hashHex(c))));
    expect(fc.size).toBe(0);
  });

  it('leaves alone the chunks a newer tree holds already', async () => {
    const dir = fs.mkdtempSync(path.join(root, 't-'));
    const cs = chunks(perFile);
    const old = tree(path.join(dir, 'rp1'), { 'a.db': cs });
    const newer = tree(path.join(dir, 'rp2'), { 'b.db': cs });
    const fc = new FileChunks(() => false);
    fc.index(old.tree, old.manifest);
    fc.index(newer.tree, newer.manifest); // newest place wins
    expect(await fc.leave(old.tree, [newer], () => true)).toEqual([]);
    fs.rmSync(old.tree, { recursive: true });
    for (const c of cs) expect((await fc.read(hashHex(c)))?.equals(c)).toBe(true);
  });
});
