// Two real agents over real TLS on loopback: replicate a tree, mutate it, replicate again, and
// compare the destination's restore point byte for byte and mode for mode with the source.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Chunker } from '../../datapath/store/chunker.js';
import type { AgentClient } from '../../datapath/client/client.js';
import type { ReplicationStatus } from '../../datapath/protocol/agent-api.js';
import type { AgentHandle } from '../../localenv/agents.js';
import { startAgentPair, type AgentPair } from './pair.js';
import { describeTree, prng, sleep } from './trees.js';
import { eventually } from '../harness/eventually.js';

let pair: AgentPair;
let src: AgentHandle;
let dst: AgentHandle;
let sc: AgentClient;
let dc: AgentClient;

beforeAll(async () => {
  pair = await startAgentPair('rep', { dstArgs: ['--retain', '3'] });
  ({ src, dst, sc, dc } = pair);
});

afterAll(async () => {
  await pair?.stop();
});

const destination = () => pair.destination();

async function replicate(volume: string, extra: Record<string, unknown> = {}): Promise<ReplicationStatus> {
  const progress: ReplicationStatus[] = [];
  const s = await sc.replicate(
    { volume, destination: destination(), mode: 'DisasterRecovery', ...extra },
    { onProgress: (p) => progress.push(p), pollMs: 50 },
  );
  expect(progress.length).toBeGreaterThan(0);
  return s;
}

/** The destination's ferry_agent_standby_prepared_copies_total (or another such counter), by result. */
async function preparedCopies(
  metric = 'ferry_agent_standby_prepared_copies_total',
): Promise<{ started: number; taken: number }> {
  const text = await dc.metrics();
  const n = (r: string): number =>
    Number(new RegExp(`^${metric}\\{result="${r}"\\} (\\S+)$`, 'm').exec(text)?.[1]);
  return { started: n('started'), taken: n('taken') };
}

describe('replication between two agents', () => {
  it('replicates a tree, then only the changes, and the standby equals the source byte for byte', async () => {
    const vol = (await sc.createVolume('app-data')).path;
    fs.mkdirSync(path.join(vol, 'db', 'wal'), { recursive: true });
    fs.mkdirSync(path.join(vol, 'conf'), { mode: 0o750 });
    fs.mkdirSync(path.join(vol, 'locked'), { mode: 0o500 });
    fs.chmodSync(path.join(vol, 'locked'), 0o500);
    fs.writeFileSync(path.join(vol, 'db', 'big.dat'), prng(24 << 20, 'big'));
    fs.writeFileSync(path.join(vol, 'db', 'wal', 'seg-1'), prng(3 << 20, 'wal1'));
    fs.writeFileSync(path.join(vol, 'conf', 'app.yaml'), 'key: value\n'.repeat(500), { mode: 0o640 });
    fs.chmodSync(path.join(vol, 'conf', 'app.yaml'), 0o640);
    fs.writeFileSync(path.join(vol, 'script.sh'), '#!/bin/sh\necho hi\n');
    fs.chmodSync(path.join(vol, 'script.sh'), 0o755);
    fs.writeFileSync(path.join(vol, 'empty'), '');
    fs.writeFileSync(path.join(vol, 'static.bin'), prng(1 << 20, 'static'));
    fs.writeFileSync(
      path.join(vol, 'logs.txt'),
      Array.from({ length: 20000 }, (_, i) => `line ${i} of the log\n`).join(''),
    );
    fs.symlinkSync('db/big.dat', path.join(vol, 'current-db'));
    fs.symlinkSync('../conf/app.yaml', path.join(vol, 'db', 'config-link'));
    fs.symlinkSync('does-not-exist', path.join(vol, 'dangling'));
    await sleep(150); // let mtimes age past the racy margin

    const built0 = await preparedCopies('ferry_agent_standby_built_files_total');
    const first = await replicate('app-data');
    expect(first.phase).toBe('succeeded');
    // db/big.dat (24 MiB, new) was named while it was cut and written while its chunks arrived; the
    // commit renamed it into the tree (the 3 MiB and 1 MiB files are below the size for that).
    const built1 = await preparedCopies('ferry_agent_standby_built_files_total');
    expect(built1.started - built0.started).toBe(1);
    expect(built1.taken - built0.taken).toBe(1);
    expect(first.kind).toBe('incremental'); // DisasterRecovery, and nothing to be incremental from
    expect(first.snapshot?.stats.filesRead).toBe(7);
    expect(first.bytesDone).toBe(first.bytesTotal);
    expect(first.chunkBytesOnWire).toBeLessThan(first.bytesLogical); // the text files compressed
    const standby = await dc.getStandby('app-data');
    expect(standby.current).toBe(first.snapshotId);
    expect(describeTree(dst.standbyPath('app-data'))).toEqual(describeTree(vol));
    const firstTree = describeTree(dst.standbyPath('app-data'));

    // mutate: edit in place, append, insert, delete, rename, add, chmod
    const big = path.join(vol, 'db', 'big.dat');
    const fd = fs.openSync(big, 'r+');
    fs.writeSync(fd, Buffer.from('EDITED-IN-PLACE'), 0, 15, 5_000_000);
    fs.closeSync(fd);
    fs.appendFileSync(path.join(vol, 'db', 'wal', 'seg-1'), prng(100_000, 'append'));
    const logs = fs.readFileSync(path.join(vol, 'logs.txt'));
    fs.writeFileSync(
      path.join(vol, 'logs.txt'),
      Buffer.concat([logs.subarray(0, 1000), Buffer.from('INSERTED LINE\n'), logs.subarray(1000)]),
    );
    fs.rmSync(path.join(vol, 'empty'));
    fs.renameSync(path.join(vol, 'script.sh'), path.join(vol, 'run.sh'));
    fs.writeFileSync(path.join(vol, 'db', 'wal', 'seg-2'), prng(1 << 20, 'wal2'));
    fs.chmodSync(path.join(vol, 'conf', 'app.yaml'), 0o600);
    await sleep(150);
    const changed = 15 + 100_000 + 14 + (1 << 20);

    const before = await preparedCopies();
    const second = await replicate('app-data');
    expect(second.phase).toBe('succeeded');
    expect(second.kind).toBe('incremental');
    expect(second.previous).toBe(1);
    const st = second.snapshot?.stats;
    expect(st?.filesReused).toBe(1); // static.bin; run.sh was renamed (new path) and app.yaml chmod-ed (new ctime)
    expect(st?.filesRead).toBe(6);
    // close to the changed bytes: each edit costs about one chunk (avg 64 KiB) around it
    expect(second.chunkBytesOnWire).toBeLessThan(changed + 6 * 256 * 1024);
    expect(second.bytesOnWire).toBeLessThan(changed * 1.1 + 0.01 * second.bytesLogical + 6 * 256 * 1024);
    expect(second.chunksSkipped).toBeGreaterThan(0.9 * second.chunksTotal);

    // The two large files it re-read (big.dat edited, seg-1 appended) were named to the destination
    // during the snapshot; the commit patched copies made meanwhile instead of copying them itself.
    const after = await preparedCopies();
    expect(after.started - before.started).toBe(2);
    expect(after.taken - before.taken).toBe(2);
    const info = await dc.getStandby('app-data');
    expect(info.current).toBe(second.snapshotId);
    expect(info.restorePoints.map((r) => r.id)).toEqual([first.snapshotId, second.snapshotId]);
    expect(describeTree(dst.standbyPath('app-data'))).toEqual(describeTree(vol));
    // the previous restore point is intact and still what was first replicated
    expect(
      describeTree(path.join(dst.dataRoot, 'standby', 'app-data', 'rp', first.snapshotId as string)),
    ).toEqual(firstTree);

    // an unchanged volume: no file contents read, no chunk sent
    await sleep(150);
    const third = await replicate('app-data');
    expect(third.snapshot?.stats.bytesRead).toBe(0);
    expect(third.chunksSent).toBe(0);
    expect(third.bytesOnWire).toBeLessThan(2048); // the manifest went as a one-op delta
    expect(describeTree(dst.standbyPath('app-data'))).toEqual(describeTree(vol));
  });

  it('a snapshot taken before its replication (a Migration) gets the files the commit will patch copied early', async () => {
    const vol = (await sc.createVolume('premade')).path;
    fs.writeFileSync(path.join(vol, 'edited.dat'), prng(6 << 20, 'premade-edited'));
    fs.writeFileSync(path.join(vol, 'rewritten.dat'), prng(2 << 20, 'premade-rewritten'));
    fs.writeFileSync(path.join(vol, 'same.dat'), prng(2 << 20, 'premade-same'));
    await sleep(150);
    const replicateSnapshot = async (snapshotId: string): Promise<void> => {
      const s = await sc.replicate(
        { volume: 'premade', snapshotId, destination: destination(), mode: 'DisasterRecovery' },
        { pollMs: 20 },
      );
      expect(s.phase).toBe('succeeded');
      expect(describeTree(dst.standbyPath('premade'))).toEqual(describeTree(vol));
    };
    await replicateSnapshot((await sc.createSnapshot('premade')).id);
    const edit = async (at: number): Promise<void> => {
      const fd = fs.openSync(path.join(vol, 'edited.dat'), 'r+');
      fs.writeSync(fd, Buffer.from(`EDITED-${at}`), 0, 8, at);
      fs.closeSync(fd);
      // rewritten whole: it shares no chunk with its previous version, so patching it does not pay
      fs.writeFileSync(path.join(vol, 'rewritten.dat'), prng(2 << 20, `premade-${at}`));
      await sleep(150);
    };

    // A snapshot that does not name its destination: the replication names the files at the start
    // of its transfer, from the destination's restore point. Only edited.dat: rewritten.dat is
    // written whole and same.dat linked.
    await edit(3_000_000);
    let before = await preparedCopies();
    await replicateSnapshot((await sc.createSnapshot('premade')).id);
    let after = await preparedCopies();
    expect(after.started - before.started).toBe(1);
    expect(after.taken - before.taken).toBe(1);

    // A snapshot naming its destination names both changed files as soon as it finds their stat
    // changed, before it reads them and before any replication is asked for: it cannot know yet
    // that patching rewritten.dat will not pay, so that copy is made and then not taken.
    await edit(5_000_000);
    before = await preparedCopies();
    const snap = await sc.createSnapshot('premade', { destination: destination() });
    for (let i = 0; i < 100 && (await preparedCopies()).started === before.started; i++) await sleep(20);
    expect((await preparedCopies()).started - before.started).toBe(2);
    await replicateSnapshot(snap.id);
    after = await preparedCopies();
    expect(after.started - before.started).toBe(2); // the replication's own naming found them named
    expect(after.taken - before.taken).toBe(1);
    // the copy not taken is deleted once the commit is done with the copies
    const tmp = path.join(dst.dataRoot, 'standby', 'premade', 'tmp');
    for (let i = 0; i < 100 && fs.readdirSync(tmp).length > 0; i++) await sleep(20);
    expect(fs.readdirSync(tmp)).toEqual([]);
    // A hint that arrives after its restore point was committed starts nothing; the restore point
    // id must look like one.
    expect(await dc.prepareStandby('premade', ['edited.dat'], { forRestorePoint: snap.id })).toBe(0);
    await expect(
      dc.prepareStandby('premade', ['edited.dat'], { forRestorePoint: '../x' }),
    ).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('for "../x": not a restore point id'),
    });

    // a bad destination is refused naming the field, and nothing is snapshotted
    const count = (await sc.listSnapshots('premade')).length;
    await expect(
      sc.createSnapshot('premade', { destination: { ...destination(), url: 'http://x:1' } }),
    ).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('destination.url "http://x:1": must be https'),
    });
    expect((await sc.listSnapshots('premade')).length).toBe(count);
  });

  it('an unchanged snapshot commits without building a tree; shared trees live while a restore point uses them', async () => {
    const vol = (await sc.createVolume('noop')).path;
    fs.mkdirSync(path.join(vol, 'd'));
    fs.writeFileSync(path.join(vol, 'd', 'f.bin'), prng(300_000, 'noop'));
    await sleep(150);
    const rp = path.join(dst.dataRoot, 'standby', 'noop', 'rp');
    const run = () =>
      sc.replicate(
        { volume: 'noop', destination: destination(), mode: 'DisasterRecovery', retain: 2 },
        { pollMs: 20 },
      );
    const a = (await run()).snapshotId as string;
    const treeA = describeTree(vol);
    const b = (await run()).snapshotId as string;
    expect(fs.readlinkSync(path.join(rp, b))).toBe(a); // shares a's tree
    const c = (await run()).snapshotId as string;
    expect(fs.readlinkSync(path.join(rp, c))).toBe(a); // still a's tree, not a chain
    // a's restore point is pruned (retain 2), its tree lives on for b and c
    expect((await dc.getStandby('noop')).restorePoints.map((r) => r.id)).toEqual([b, c]);
    expect(fs.readdirSync(rp).sort()).toEqual([a, b, c].sort());
    expect(describeTree(path.join(rp, b))).toEqual(treeA);
    expect(describeTree(dst.standbyPath('noop'))).toEqual(treeA);

    fs.writeFileSync(path.join(vol, 'd', 'g.bin'), prng(1000, 'noop-g'));
    await sleep(150);
    const d = (await run()).snapshotId as string;
    expect(fs.lstatSync(path.join(rp, d)).isDirectory()).toBe(true);
    expect(describeTree(dst.standbyPath('noop'))).toEqual(describeTree(vol));
    expect(describeTree(path.join(rp, c))).toEqual(treeA);
    fs.rmSync(path.join(vol, 'd', 'g.bin'));
    await sleep(150);
    const e = (await run()).snapshotId as string;
    // c was pruned, and with it the last user of a's tree: both leave rp/ once e's commit has
    // answered (the release runs after the answer)
    await eventually(
      "c and a's tree released",
      async () => (fs.readdirSync(rp).length === 2 ? true : undefined),
      10_000,
      20,
    );
    expect(fs.readdirSync(rp).sort()).toEqual([d, e].sort());
    expect(describeTree(dst.standbyPath('noop'))).toEqual(treeA);
    // promoting a shared restore point copies the files, not the symlink
    const f = (await run()).snapshotId as string;
    expect(fs.readlinkSync(path.join(rp, f))).toBe(e);
    const promoted = await dc.promote('noop', { restorePoint: f, target: 'noop-promoted' });
    expect(fs.lstatSync(promoted.path).isDirectory()).toBe(true);
    expect(describeTree(promoted.path)).toEqual(treeA);
  });

  it('sends in-place page writes as sub-chunk deltas, and whole chunks when a base has drifted', async () => {
    const vol = (await sc.createVolume('pages')).path;
    const db = path.join(vol, 'data.db');
    fs.writeFileSync(db, prng(16 << 20, 'pages'));
    await sleep(150);
    await replicate('pages');

    const pages = 40;
    const fd = fs.openSync(db, 'r+');
    for (let i = 0; i < pages; i++) {
      const page = Math.floor((i * 4093 * 7919) % 4096); // spread over the 4096 pages of 16 MiB
      fs.writeSync(fd, prng(4096, `page-${i}`), 0, 4096, page * 4096);
    }
    fs.closeSync(fd);
    await sleep(150);
    const second = await replicate('pages');
    expect(second.chunksDelta).toBeGreaterThan(0);
    expect(second.chunksDelta).toBe(second.chunksSent);
    // about one 4 KiB block per page (a page never straddles two blocks: both are file-aligned)
    expect(second.chunkBytesOnWire).toBeLessThan(pages * 4096 * 1.1 + 16 * 1024);
    expect(second.bytesOnWire).toBeLessThan(pages * 4096 * 1.1 + 0.01 * second.bytesLogical);
    expect(describeTree(dst.standbyPath('pages'))).toEqual(describeTree(vol));

    // drift: the destination's copy of the chunk a delta will be based on is corrupt → sent whole
    const current = (await dc.getStandby('pages')).current as string;
    const m = await dc.getRestorePointManifest('pages', current);
    const e = m.entries.find((x) => x.path === 'data.db');
    if (e?.type !== 'file') throw new Error('data.db missing');
    const [h, len] = e.chunks[5] as [string, number];
    const start = e.chunks.slice(0, 5).reduce((a, c) => a + c[1], 0);
    // A large file's chunks written straight from the wire are kept in the restore point's file,
    // not in a pack (destination/file-chunks.ts): the drift is there.
    expect(findStoredChunk(dst.dataRoot, h)).toBeNull();
    const kept = path.join(dst.dataRoot, 'standby', 'pages', 'rp', current, 'data.db');
    const fdk = fs.openSync(kept, 'r+');
    fs.writeSync(fdk, Buffer.from([0xde, 0xad, 0xbe, 0xef]), 0, 4, start + 100);
    fs.closeSync(fdk);
    const at = Math.ceil((start + len / 2) / 4096) * 4096;
    const fd2 = fs.openSync(db, 'r+');
    fs.writeSync(fd2, prng(4096, 'drift-page'), 0, 4096, at);
    fs.closeSync(fd2);
    await sleep(150);
    const third = await replicate('pages');
    expect(third.phase).toBe('succeeded');
    expect(third.chunkBytesOnWire).toBeGreaterThan(len / 2); // the whole chunk went
    expect(describeTree(dst.standbyPath('pages'))).toEqual(describeTree(vol));
  });

  it('full replication re-reads everything and heals drift on the destination', async () => {
    const vol = (await sc.createVolume('heal')).path;
    fs.writeFileSync(path.join(vol, 'a.bin'), prng(2 << 20, 'heal-a'));
    fs.writeFileSync(path.join(vol, 'b.bin'), prng(1 << 20, 'heal-b'));
    await sleep(150);
    await replicate('heal');
    // corrupt one chunk in the destination's store and one file in the standby tree
    const manifest = await dc.getRestorePointManifest(
      'heal',
      (await dc.getStandby('heal')).current as string,
    );
    const a = manifest.entries.find((e) => e.path === 'a.bin');
    if (a?.type !== 'file') throw new Error('a.bin missing');
    const h = a.chunks[0]?.[0] as string;
    corruptStoredChunk(dst.dataRoot, h);
    expect(await dc.hasChunks([Buffer.from(h, 'hex')])).toEqual([true]); // not noticed without verification

    const full = await replicate('heal', { full: true });
    expect(full.kind).toBe('full');
    expect(full.snapshot?.stats.filesRead).toBe(2);
    expect(full.chunksSent).toBe(1); // only the drifted chunk moves again
    expect(describeTree(dst.standbyPath('heal'))).toEqual(describeTree(vol));
    expect(await dc.hasChunks([Buffer.from(h, 'hex')], { verify: true })).toEqual([true]);
  });

  it('default mode makes every 7th replication full; retain keeps N restore points and GC frees their chunks', async () => {
    const vol = (await sc.createVolume('cycle')).path;
    const kinds: string[] = [];
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      fs.writeFileSync(path.join(vol, `gen-${i}.bin`), prng(200_000, `gen-${i}`));
      if (i > 0) fs.rmSync(path.join(vol, `gen-${i - 1}.bin`));
      const s = await sc.replicate(
        { volume: 'cycle', destination: destination(), retain: 2 },
        { pollMs: 50 },
      );
      kinds.push(s.kind);
      ids.push(s.snapshotId as string);
      expect(describeTree(dst.standbyPath('cycle'))).toEqual(describeTree(vol));
    }
    expect(kinds).toEqual([
      'full',
      'incremental',
      'incremental',
      'incremental',
      'incremental',
      'incremental',
      'incremental',
      'full',
    ]);
    const info = await dc.getStandby('cycle');
    expect(info.restorePoints.map((r) => r.id)).toEqual(ids.slice(-2));
    // the pruned trees leave rp/, and their chunks the store, once the last commit has answered
    const rp = path.join(dst.dataRoot, 'standby', 'cycle', 'rp');
    await eventually(
      'pruned restore points released',
      async () => (fs.readdirSync(rp).length === 2 ? true : undefined),
      10_000,
      20,
    );
    expect(fs.readdirSync(rp).sort()).toEqual(ids.slice(-2).sort());
    // the chunks of gen-0..gen-5 are referenced by no restore point any more: collected
    const live = new Set<string>();
    for (const rp of info.restorePoints) {
      for (const e of (await dc.getRestorePointManifest('cycle', rp.id)).entries)
        if (e.type === 'file') for (const [h] of e.chunks) live.add(h);
    }
    await eventually(
      "gen-0's chunks collected",
      async () => ((await dc.hasChunks([Buffer.from(prngHash('gen-0'), 'hex')]))[0] ? undefined : true),
      10_000,
      20,
    );
    const metrics = await dc.metrics();
    expect(metrics).toMatch(/ferry_agent_chunk_store_chunks_deleted_total [1-9]/);
    // each agent's disk gauge is its pack files' size once its clean-up after the run is done
    // (the destination's release, the source's compaction)
    for (const [agent, client] of [
      [dst, dc],
      [src, sc],
    ] as const) {
      const packs = path.join(agent.dataRoot, 'chunks', 'packs');
      await eventually(
        `${agent.dataRoot}: disk gauge matches the pack files`,
        async () => {
          const onDisk = fs
            .readdirSync(packs)
            .filter((f) => f.endsWith('.pack'))
            .reduce((a, f) => a + fs.statSync(path.join(packs, f)).size, 0);
          const gauge = Number(
            /^ferry_agent_chunk_store_disk_bytes (\d+)$/m.exec(await client.metrics())?.[1],
          );
          return gauge === onDisk && onDisk > 0 ? true : undefined;
        },
        10_000,
        50,
      );
    }
    expect(live.size).toBeGreaterThan(0);
    expect(
      await dc.hasChunks(
        [...live].map((h) => Buffer.from(h, 'hex')),
        { verify: true },
      ),
    ).toEqual([...live].map(() => true));
  });

  it('answers a status request when the phase changes, not at the next poll', async () => {
    const vol = (await sc.createVolume('long-poll')).path;
    fs.writeFileSync(path.join(vol, 'data.bin'), prng(16 << 20, 'long-poll'));
    let st = await sc.startReplication({
      volume: 'long-poll',
      destination: destination(),
      mode: 'DisasterRecovery',
    });
    const seen = [st.phase];
    while (!['succeeded', 'failed', 'cancelled'].includes(st.phase)) {
      const next = await sc.getReplication(st.id, { phase: st.phase, waitMs: 10_000 });
      expect(next.phase).not.toBe(st.phase); // an answer per change: none timed out, none early
      seen.push(next.phase);
      st = next;
    }
    expect(seen.at(-1)).toBe('succeeded');
    expect(seen.length).toBeGreaterThanOrEqual(3); // a phase that ends between two requests is not seen
    // ended, or in another phase than the one named: at once
    let t0 = Date.now();
    expect((await sc.getReplication(st.id, { phase: 'succeeded', waitMs: 10_000 })).phase).toBe('succeeded');
    expect((await sc.getReplication(st.id, { phase: 'planning', waitMs: 10_000 })).phase).toBe('succeeded');
    expect(Date.now() - t0).toBeLessThan(2_000);
    // a replication that stays in its phase (its destination is down, it retries): after waitMs
    const down = await sc.startReplication({
      volume: 'long-poll',
      destination: { ...destination(), url: 'https://127.0.0.1:1' },
      mode: 'DisasterRecovery',
    });
    let phase = down.phase;
    // transferring: once the snapshot is taken, while what it streamed drains (nothing, here)
    while (phase === 'pending' || phase === 'snapshotting' || phase === 'transferring')
      phase = (await sc.getReplication(down.id, { phase, waitMs: 10_000 })).phase;
    expect(phase).toBe('planning');
    t0 = Date.now();
    const later = await sc.getReplication(down.id, { phase, waitMs: 400 });
    expect(later.phase).toBe('planning');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
    await sc.cancelReplication(down.id);
    expect((await sc.getReplication(down.id, { phase: 'planning', waitMs: 10_000 })).phase).toBe('cancelled');
    // refusals name the parameter and its value
    const refusal = (q: string): Promise<string> =>
      (sc as unknown as { http: { json(o: object): Promise<unknown> } }).http
        .json({ method: 'GET', path: `/v1/replications/${st.id}?${q}` })
        .then(
          () => 'accepted',
          (err: Error) => err.message,
        );
    expect(await refusal('phase=bogus&waitMs=5')).toMatch(/phase "bogus": must be one of pending, /);
    expect(await refusal('phase=planning&waitMs=20000')).toMatch(
      /waitMs "20000": must be an integer in 0\.\.10000/,
    );
    expect(await refusal('waitMs=5')).toMatch(/phase and waitMs: give both or neither/);
  });

  it("asks its destination on a watcher's behalf, and says within the time asked when it cannot", async () => {
    const vol = (await sc.createVolume('relay')).path;
    fs.writeFileSync(path.join(vol, 'a.bin'), prng(1 << 20, 'relay'));
    const done = await replicate('relay');
    expect(done.phase).toBe('succeeded');
    const ok = await sc.askDestination(done.id);
    expect(ok.reachable).toBe(true);
    expect(ok.standby?.volume).toBe('relay');
    expect(ok.standby?.current).toBe(done.restorePoint);
    expect(ok.standby?.current).toEqual(expect.any(String));
    // a destination that refuses connections
    const refused = await sc.startReplication({
      volume: 'relay',
      destination: { ...destination(), url: 'https://127.0.0.1:1' },
      mode: 'DisasterRecovery',
    });
    const no = await sc.askDestination(refused.id, 2_000);
    expect(no).toMatchObject({
      reachable: false,
      standby: null,
      error: expect.stringMatching(/ECONNREFUSED/),
    });
    await sc.cancelReplication(refused.id);
    // a destination that accepts and never answers (frozen): unreachable once timeoutMs has passed
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const frozen = await sc.startReplication({
        volume: 'relay',
        destination: { ...destination(), url: `https://127.0.0.1:${port}` },
        mode: 'DisasterRecovery',
      });
      const t0 = Date.now();
      const quiet = await sc.askDestination(frozen.id, 800);
      const took = Date.now() - t0;
      expect(quiet).toMatchObject({ reachable: false, standby: null });
      expect(took).toBeGreaterThanOrEqual(750);
      expect(took).toBeLessThan(4_000);
      await sc.cancelReplication(frozen.id);
    } finally {
      silent.close();
    }
    // refusals name what is wrong
    await expect(sc.askDestination('r-none')).rejects.toThrow(/replication r-none not found/);
    await expect(sc.askDestination(done.id, 10)).rejects.toThrow(
      /timeoutMs "10": must be an integer in 500\.\.30000/,
    );
  });

  it('exposes health, info and Prometheus metrics', async () => {
    expect(await dc.health()).toEqual({ ok: true });
    const info = await sc.info();
    expect(info.chunker).toEqual({ min: 16384, avg: 65536, max: 262144 });
    expect(info.hash).toBe('blake3');
    expect([...info.hashes].sort()).toEqual(['blake3', 'sha256']);
    const m = await sc.metrics();
    expect(m).toMatch(/^# TYPE ferry_agent_bytes_sent_total counter$/m);
    expect(m).toMatch(/ferry_agent_replications_succeeded_total [1-9]/);
    expect(m).toMatch(/ferry_agent_snapshot_duration_seconds_sum /);
    // where the time went, stage by stage (datapath/stages.ts): the source read, cut, hashed and
    // sent; the destination verified what it received and wrote restore points
    const stage = (text: string, what: string, st: string): number =>
      Number(new RegExp(`^ferry_agent_stage_${what}_total\\{stage="${st}"\\} (\\S+)$`, 'm').exec(text)?.[1]);
    for (const st of ['read', 'cut', 'hash', 'pack', 'send']) {
      expect(stage(m, 'bytes', st)).toBeGreaterThan(0);
      expect(stage(m, 'seconds', st)).toBeGreaterThan(0);
    }
    const dm0 = await dc.metrics();
    for (const st of ['pack', 'verify', 'write']) expect(stage(dm0, 'bytes', st)).toBeGreaterThan(0);
    // the standby's data age: now minus when the source took the current restore point's snapshot
    const standby = await dc.getStandby('app-data');
    const current = standby.restorePoints.find((r) => r.id === standby.current)!;
    const before = Date.now();
    const dm = await dc.metrics();
    const age = Number(
      /^ferry_agent_standby_restore_point_age_seconds\{volume="app-data"\} (\S+)$/m.exec(dm)?.[1],
    );
    const expected = (before - Date.parse(current.createdAt)) / 1000;
    expect(age).toBeGreaterThanOrEqual(expected - 0.5);
    expect(age).toBeLessThan(expected + 5);
    expect(dm).toMatch(/^ferry_agent_http_requests_total\{server="control",code="200"\} [1-9]/m);
    // the agent never logs a token
    expect(fs.readFileSync(src.logPath, 'utf8')).not.toContain(dst.token);
    expect(fs.readFileSync(dst.logPath, 'utf8')).not.toContain(dst.token);
  });

  it('promotes a restore point into a writable volume for failover', async () => {
    const info = await dc.getStandby('app-data');
    const oldest = info.restorePoints[0]?.id as string;
    const r = await dc.promote('app-data', { restorePoint: oldest, target: 'app-data-failover' });
    expect(r.restorePoint).toBe(oldest);
    expect(describeTree(r.path)).toEqual(
      describeTree(path.join(dst.dataRoot, 'standby', 'app-data', 'rp', oldest)),
    );
    await expect(dc.promote('app-data', { target: 'app-data-failover' })).rejects.toMatchObject({
      status: 409,
    });
    const standby = await dc.getStandby('app-data');
    expect(standby.promoted).toEqual({ restorePoint: oldest, path: r.path, at: expect.any(String) });
  });

  it('promotes with replace over an existing volume (failback), keeping the old one aside', async () => {
    const info = await dc.getStandby('app-data');
    const latest = info.current as string;
    const target = path.join(dst.dataRoot, 'volumes', 'app-data-failover');
    fs.writeFileSync(path.join(target, 'written-after-failover'), 'kept aside');
    const before = describeTree(target);
    const r = await dc.promote('app-data', { target: 'app-data-failover', replace: true });
    expect(r.restorePoint).toBe(latest);
    expect(r.path).toBe(target);
    expect(describeTree(target)).toEqual(
      describeTree(path.join(dst.dataRoot, 'standby', 'app-data', 'rp', latest)),
    );
    expect(r.replaced).toMatch(/\/volumes\/\.replaced\/app-data-failover-\d{4}-\d{2}-\d{2}T\d+Z$/);
    expect(describeTree(r.replaced!)).toEqual(before);
    expect((await dc.getStandby('app-data')).promoted).toMatchObject({
      restorePoint: latest,
      replaced: r.replaced,
    });
    // The aside folder is not a volume.
    expect((await dc.listVolumes()).map((v) => v.name)).not.toContain('.replaced');
    await expect(
      dc.promote('app-data', { target: 'x', replace: 'yes' as unknown as boolean }),
    ).rejects.toMatchObject({ status: 400, message: expect.stringContaining('replace: must be a boolean') });
  });
});

/** Hash of the first chunk of prng(200_000, seed). */
function prngHash(seed: string): string {
  const data = prng(200_000, seed);
  const first = new Chunker().split(data)[0] as number;
  return crypto.createHash('sha256').update(data.subarray(0, first)).digest('hex');
}

/** The pack file and offset of chunk `hex`'s record header in an agent's packs, or null. */
function findStoredChunk(dataRoot: string, hex: string): { file: string; at: number } | null {
  const dir = path.join(dataRoot, 'chunks', 'packs');
  const needle = Buffer.from(hex, 'hex');
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.pack'))) {
    const file = path.join(dir, f);
    const at = fs.readFileSync(file).indexOf(needle);
    if (at >= 0) return { file, at };
  }
  return null;
}

/** Flips bytes inside the stored payload of chunk `hex` in an agent's pack files. */
function corruptStoredChunk(dataRoot: string, hex: string): void {
  const found = findStoredChunk(dataRoot, hex);
  if (!found) throw new Error(`chunk ${hex} not found in the packs of ${dataRoot}`);
  const fd = fs.openSync(found.file, 'r+');
  fs.writeSync(fd, Buffer.from([0xde, 0xad, 0xbe, 0xef]), 0, 4, found.at + 32 + 4 + 100);
  fs.closeSync(fd);
}
