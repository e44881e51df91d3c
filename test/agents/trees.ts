// Helpers for agent tests: describe a directory tree (type, mode, content hash, symlink target)
// so two trees can be compared byte for byte and mode for mode.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export type TreeEntry =
  | { type: 'dir'; mode: number }
  | { type: 'file'; mode: number; size: number; sha256: string }
  | { type: 'symlink'; target: string };

export function describeTree(root: string): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {};
  const walk = (dir: string, rel: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const abs = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(abs);
      if (st.isDirectory()) {
        out[r] = { type: 'dir', mode: st.mode & 0o7777 };
        walk(abs, r);
      } else if (st.isSymbolicLink()) {
        out[r] = { type: 'symlink', target: fs.readlinkSync(abs) };
      } else if (st.isFile()) {
        out[r] = {
          type: 'file',
          mode: st.mode & 0o7777,
          size: st.size,
          sha256: crypto.createHash('sha256').update(fs.readFileSync(abs)).digest('hex'),
        };
      }
    }
  };
  walk(fs.realpathSync(root), '');
  return out;
}

/** Deterministic pseudo-random bytes. */
export function prng(n: number, seed: string): Buffer {
  const out = Buffer.allocUnsafe(n);
  const key = crypto.createHash('sha256').update(seed).digest();
  const cipher = crypto.createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const z = Buffer.alloc(Math.min(n, 1 << 20));
  let off = 0;
  while (off < n) {
    const k = Math.min(z.length, n - off);
    off += cipher.update(z.subarray(0, k)).copy(out, off);
  }
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
