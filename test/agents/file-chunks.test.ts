// A destination writes a large new file's chunks once: into the file it builds while they arrive,
// not also into a pack (destination/build.ts offer, destination/file-chunks.ts). Those chunks stay
// in the store's reach from the restore points' files: later deltas are built on them, `have`
// answers for them (verified), they move to a newer restore point or into a pack when the one
// holding them is pruned, and a restarted agent finds them again from its manifests.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ReplicationStatus } from '../../datapath/protocol/agent-api.js';
import type { ChunkRef, Manifest } from '../../datapath/protocol/manifest.js';
import { startAgent, type AgentHandle } from '../../localenv/agents.js';
import { createCertAuthority, type CertAuthority } from '../../localenv/tls.js';
import { describeTree, prng, sleep } from './trees.js';
import { eventually } from '../harness/eventually.js';

let dir: string;
let ca: CertAuthority;
let src: AgentHandle;
let dst: AgentHandle;

const dstArgs = ['--retain', '2'];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-agents-fc-'));
  ca = await createCertAuthority(path.join(dir, 'ca'), 'ferry-test-ca');
  [src, dst] = await Promise.all([
    startAgent({ dir: path.join(dir, 'src'), name: 'src', ca }),
    startAgent({ dir: path.join(dir, 'dst'), name: 'dst', ca, args: dstArgs }),
  ]);
});

afterAll(async () => {
  await Promise.all([src?.stop(), dst?.stop()]);
  fs.rmSync(dir, { recursive: true, force: true });
});

async function replicate(volume: string): Promise<ReplicationStatus> {
  const c = src.client();
  try {
    return await c.replicate(
      {
        volume,
        destination: { url: dst.url, token: dst.token, caCertPem: dst.caCertPem },
        mode: 'DisasterRecovery',
      },
      { pollMs: 50 },
    );
  } finally {
    c.close();
  }
}

/** Whether each chunk is in one of the destination's pack files (by its record's hash bytes). */
/**
 * The trees in rp/ of standby `volume` once restore point `id`'s has left: a commit's pruned
 * restore points are released (chunks moved, tree out of rp/) right after it has answered.
 */
async function released(volume: string, id: string): Promise<string[]> {
  const rp = path.join(dst.dataRoot, 'standby', volume, 'rp');
  return eventually(
    `restore point ${id} of ${volume} released`,
    async () => (fs.readdirSync(rp).includes(id) ? undefined : fs.readdirSync(rp)),
    10_000,
    20,
  );
}

function inPacks(hashes: readonly string[]): boolean[] {
  const packs = path.join(dst.dataRoot, 'chunks', 'packs');
  const data = fs
    .readdirSync(packs)
    .filter((n) => n.endsWith('.pack'))
    .map((n) => fs.readFileSync(path.join(packs, n)));
  return hashes.map((h) => data.some((d) => d.includes(Buffer.from(h, 'hex'))));
}

async function metric(name: string): Promise<number> {
  const c = dst.client();
  try {
    return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await c.metrics())?.[1]);
  } finally {
    c.close();
  }
}

async function currentManifest(volume: string): Promise<Manifest> {
  const c = dst.client();
  try {
    const id = (await c.getStandby(volume)).current as string;
    return await c.getRestorePointManifest(volume, id);
  } finally {
    c.close();
  }
}

function chunksOf(m: Manifest, rel: string): ChunkRef[] {
  const e = m.entries.find((x) => x.path === rel);
  if (e?.type !== 'file') throw new Error(`${rel} missing`);
  return e.chunks;
}

/** The destination's verified `have` answer for every chunk of manifest `m`. */
async function haveAll(m: Manifest): Promise<boolean[]> {
  const c = dst.client();
  try {
    const all = [...new Set(m.entries.flatMap((e) => (e.type === 'file' ? e.chunks.map(([h]) => h) : [])))];
    return await c.hasChunks(
      all.map((h) => Buffer.from(h, 'hex')),
      { verify: true },
    );
  } finally {
    c.close();
  }
}

function writePages(file: string, seed: string, pages: number): void {
  const fd = fs.openSync(file, 'r+');
  const size = fs.fstatSync(fd).size;
  for (let i = 0; i < pages; i++) {
    const page = (i * 7919 + seed.length * 131) % Math.floor(size / 4096);
    fs.writeSync(fd, prng(4096, `${seed}-${i}`), 0, 4096, page * 4096);
  }
  fs.closeSync(fd);
}

it('keeps a large new file only in its restore point, and every chunk stays reachable through deltas, prunes and a restart', async () => {
  const c = src.client();
  const vol = (await c.createVolume('db')).path;
  c.close();
  fs.mkdirSync(path.join(vol, 'conf'));
  fs.writeFileSync(path.join(vol, 'data.db'), prng(24 << 20, 'fc-db'));
  fs.writeFileSync(path.join(vol, 'conf', 'small.bin'), prng(300_000, 'fc-small'));
  await sleep(150);
  const first = await replicate('db');
  expect(first.phase).toBe('succeeded');
  expect(describeTree(dst.standbyPath('db'))).toEqual(describeTree(vol));

  const m1 = await currentManifest('db');
  const big = chunksOf(m1, 'data.db').map(([h]) => h);
  const packed = inPacks(big);
  const kept = packed.filter((p) => !p).length;
  // The file is named to the destination once 8 MiB of it are cut: the chunks after that (most of
  // the rest) are written into the file only; the small file's chunks go to a pack as before.
  expect(kept).toBeGreaterThan(big.length / 4);
  expect(inPacks(chunksOf(m1, 'conf/small.bin').map(([h]) => h))).not.toContain(false);
  expect(await metric('ferry_agent_standby_chunks_into_files_total')).toBeGreaterThanOrEqual(kept);
  expect(await metric('ferry_agent_standby_file_chunks')).toBe(kept);
  expect(await haveAll(m1)).not.toContain(false);

  /** 30 page writes, replicated as deltas (their bases in restore-point files); the standby equals the source. */
  const pagesReplicated = async (gen: string): Promise<void> => {
    writePages(path.join(vol, 'data.db'), gen, 30);
    await sleep(150);
    const r = await replicate('db');
    expect(r.chunksDelta).toBeGreaterThan(0);
    expect(r.chunkBytesOnWire).toBeLessThan(30 * 4096 * 1.2 + 16 * 1024);
    expect(describeTree(dst.standbyPath('db'))).toEqual(describeTree(vol));
  };
  // Page writes: deltas against bases that live only in the restore point's file.
  await pagesReplicated('gen2');

  // Two more generations: with --retain 2 the first restore point (the one whose file took the
  // chunks from the wire) is retired; what it held moves to newer files or into a pack.
  for (const gen of ['gen3', 'gen4']) await pagesReplicated(gen);
  const rps = await released('db', m1.id);
  expect(rps).toHaveLength(2);
  expect(rps).not.toContain(m1.id);
  const m4 = await currentManifest('db');
  expect(await haveAll(m4)).not.toContain(false);

  // A restart rebuilds the index from the manifests: the same chunks are still there.
  const before = await metric('ferry_agent_standby_file_chunks');
  expect(before).toBeGreaterThan(0);
  await dst.stop();
  dst = await startAgent({ dir: path.join(dir, 'dst'), name: 'dst', ca, args: dstArgs });
  expect(await metric('ferry_agent_standby_file_chunks')).toBe(before);
  expect(await haveAll(m4)).not.toContain(false);

  // And the next incremental after the restart builds on them.
  await pagesReplicated('gen5');
});

it('a chunk of a leaving restore point that a kept one still needs is copied into a pack first', async () => {
  // The first restore point's large file holds chunks only there; the file is then deleted from
  // the source while a copy of it under another (small-file) name keeps one of its chunks wanted.
  const c = src.client();
  const vol = (await c.createVolume('moves')).path;
  c.close();
  const data = prng(16 << 20, 'fc-moves');
  fs.writeFileSync(path.join(vol, 'big.bin'), data);
  await sleep(150);
  await replicate('moves');
  const m1 = await currentManifest('moves');
  const chunks = chunksOf(m1, 'big.bin');
  const lastKept = [...chunks.keys()].reverse().find((k) => !inPacks([chunks[k]![0]])[0]);
  expect(lastKept).toBeDefined();
  const [h, len] = chunks[lastKept!]!;
  const at = chunks.slice(0, lastKept).reduce((a, [, n]) => a + n, 0);
  // small.bin is exactly that chunk's bytes: the destination has it (in big.bin's file), so the
  // source does not send it, and the new restore point's small file shares it
  fs.writeFileSync(path.join(vol, 'small.bin'), data.subarray(at, at + len));
  fs.rmSync(path.join(vol, 'big.bin'));
  await sleep(150);
  const second = await replicate('moves');
  expect(second.chunksSent).toBe(0);

  // the next commit pushes the first restore point out (--retain 2): the chunk only its big.bin
  // held, which the kept restore points' small.bin still uses, is saved into a pack first
  // (without that, `have` would deny it until a commit's missing-chunks answer brought it back)
  fs.writeFileSync(path.join(vol, 'note.txt'), 'third');
  await sleep(150);
  await replicate('moves');
  expect(await released('moves', m1.id)).not.toContain(m1.id);
  expect(inPacks([h])).toEqual([true]);
  expect(await haveAll(await currentManifest('moves'))).not.toContain(false);
  expect(describeTree(dst.standbyPath('moves'))).toEqual(describeTree(vol));
});
