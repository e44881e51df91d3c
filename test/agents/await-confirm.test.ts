// A replication requested with awaitConfirm (a Migration's snapshot step, activities/volumes.ts):
// it takes the snapshot, sends the data while the snapshot reads and after, and commits only
// once its id is posted again without the flag; unconfirmed within the source agent's
// --confirm-window-ms it is cancelled, and posting its id again resumes it. Two real agents.
import fs from 'node:fs';
import path from 'node:path';
import type { AgentClient } from '../../datapath/client/client.js';
import type { ReplicationRequest, ReplicationStatus } from '../../datapath/protocol/agent-api.js';
import type { AgentHandle } from '../../localenv/agents.js';
import { startAgentPair, type AgentPair } from './pair.js';
import { describeTree, prng, sleep } from './trees.js';

const WINDOW_MS = 2_000;

let pair: AgentPair;
let dst: AgentHandle;
let sc: AgentClient;
let dc: AgentClient;

beforeAll(async () => {
  pair = await startAgentPair('confirm', { srcArgs: ['--confirm-window-ms', String(WINDOW_MS)] });
  ({ dst, sc, dc } = pair);
});

afterAll(async () => {
  await pair?.stop();
});

const request = (
  volume: string,
  id: string,
  extra: Partial<ReplicationRequest> = {},
): ReplicationRequest => ({
  id,
  volume,
  destination: pair.destination(),
  mode: 'DisasterRecovery',
  ...extra,
});

/**
 * The status once `until` holds, following the replication's phase changes with long polls of
 * `waitMs`. A phase change answers the poll waiting on it as it happens; only one that falls
 * between two polls is seen later (a 50 ms poll under CI load once saw the planning that follows
 * a snapshot), so a test that reads the state at a phase change waits longer per poll.
 */
async function follow(
  id: string,
  until: (s: ReplicationStatus) => boolean,
  waitMs = 50,
): Promise<ReplicationStatus> {
  let s = await sc.getReplication(id);
  for (let i = 0; i < 20_000 / waitMs && !until(s); i++) s = await sc.nextStatus(id, s.phase, waitMs);
  if (!until(s)) throw new Error(`replication ${id}: ${JSON.stringify(s)}`);
  return s;
}

/**
 * A volume (a 24 MiB file, a small one, an unchanged one) replicated once; then 1% of the large
 * file's 4 KiB pages and the small file rewritten.
 */
async function replicatedThenEdited(volume: string): Promise<{ dir: string; restorePoint: string }> {
  const dir = (await sc.createVolume(volume)).path;
  const file = path.join(dir, 'db.dat');
  fs.writeFileSync(file, prng(24 << 20, volume));
  fs.writeFileSync(path.join(dir, 'small.conf'), 'a: 1\n');
  fs.writeFileSync(path.join(dir, 'static.bin'), prng(1 << 20, `${volume}-static`));
  await sleep(150);
  const first = await sc.replicate(request(volume, `${volume}-0`), { pollMs: 20 });
  expect(first.phase).toBe('succeeded');
  const fd = fs.openSync(file, 'r+');
  for (let page = 0; page < 6144; page += 97)
    fs.writeSync(fd, prng(4096, `${volume}-${page}`), 0, 4096, page * 4096);
  fs.closeSync(fd);
  fs.writeFileSync(path.join(dir, 'small.conf'), 'a: 2\n');
  await sleep(150);
  return { dir, restorePoint: first.restorePoint as string };
}

describe('a replication that awaits confirmation', () => {
  it('is a feature the agent advertises, so a Migration can tell an older agent that lacks it', async () => {
    // activities/volumes.ts snapshotVolumes takes plain snapshots when the list lacks it
    expect((await sc.info()).features).toContain('awaitConfirm');
  });

  it('sends its data, holds the standby on its restore point, and commits once confirmed', async () => {
    const { dir, restorePoint } = await replicatedThenEdited('held');
    const before = describeTree(dst.standbyPath('held'));
    const started = await sc.startReplication(request('held', 'held-1', { awaitConfirm: true }));
    expect(started.awaitingConfirm).toBeUndefined();
    // the snapshot's id is known as soon as it is taken (what the Migration's snapshot step returns)
    const taken = await follow('held-1', (s) => s.snapshotId !== null);
    expect(taken.phase).not.toBe('snapshotting');
    const held = await follow('held-1', (s) => s.awaitingConfirm === true);
    expect(held.phase).toBe('transferring');
    // the changed pages went while it waited, as deltas; the standby has not switched
    expect(held.chunksSent).toBeGreaterThan(0);
    expect(held.chunksDelta).toBeGreaterThan(0);
    expect(held.chunkBytesOnWire).toBeLessThan(4 << 20);
    expect((await dc.getStandby('held')).current).toBe(restorePoint);
    expect(describeTree(dst.standbyPath('held'))).toEqual(before);
    await sleep(300);
    expect((await sc.getReplication('held-1')).awaitingConfirm).toBe(true);

    // posted again without the flag (the transfer step): confirmed, committed
    const confirmed = await sc.startReplication(
      request('held', 'held-1', { snapshotId: taken.snapshotId as string }),
    );
    expect(confirmed.attempt).toBe(1);
    const done = await sc.waitForReplication('held-1', { pollMs: 20 });
    expect(done.restorePoint).toBe(taken.snapshotId);
    expect(done.awaitingConfirm).toBeUndefined();
    expect(done.chunksSent).toBe(held.chunksSent); // nothing left to send after the confirmation
    expect((await dc.getStandby('held')).current).toBe(taken.snapshotId);
    expect(describeTree(dst.standbyPath('held'))).toEqual(describeTree(dir));
  });

  it('with streamDuringSnapshot false sends nothing while the snapshot runs, then all of it', async () => {
    const { dir } = await replicatedThenEdited('quiet');
    // db.dat rewritten whole (64 MiB): without the flag its chunks stream while it is read
    const rewrite = async (seed: string): Promise<void> => {
      fs.writeFileSync(path.join(dir, 'db.dat'), prng(64 << 20, seed));
      await sleep(150);
    };
    const takenWith = async (id: string, extra: Partial<ReplicationRequest>): Promise<ReplicationStatus> => {
      await sc.startReplication(request('quiet', id, { awaitConfirm: true, ...extra }));
      // read as the snapshot is taken: bytes sent by then were sent while it ran
      const taken = await follow(id, (s) => s.snapshotId !== null, 5_000);
      await sc.startReplication(request('quiet', id));
      const done = await sc.waitForReplication(id, { pollMs: 20 });
      expect(describeTree(dst.standbyPath('quiet'))).toEqual(describeTree(dir));
      expect(done.chunksSent).toBeGreaterThan(0);
      return taken;
    };
    await rewrite('quiet-1');
    const quiet = await takenWith('quiet-1', { streamDuringSnapshot: false });
    expect(quiet.bytesOnWire).toBe(0);
    expect(quiet.chunksSent).toBe(0);
    await rewrite('quiet-2');
    const streamed = await takenWith('quiet-2', {});
    expect(streamed.bytesOnWire).toBeGreaterThan(0); // asked about (and sent) while it read
  });

  it('commits without stopping when the confirmation comes first', async () => {
    const { dir } = await replicatedThenEdited('early');
    await sc.startReplication(request('early', 'early-1', { awaitConfirm: true }));
    await sc.startReplication(request('early', 'early-1'));
    const done = await sc.waitForReplication('early-1', { pollMs: 20 });
    expect(done.phase).toBe('succeeded');
    expect(describeTree(dst.standbyPath('early'))).toEqual(describeTree(dir));
  });

  it('a full one reuses unchanged files in its snapshot and still verifies and commits everything', async () => {
    const { dir } = await replicatedThenEdited('fullheld');
    await sc.startReplication(request('fullheld', 'fullheld-1', { awaitConfirm: true, full: true }));
    const taken = await follow('fullheld-1', (s) => s.snapshotId !== null);
    expect(taken.kind).toBe('full');
    expect(taken.snapshot?.full).toBe(false);
    expect(taken.snapshot?.stats.filesReused).toBe(1); // static.bin, not read again
    await sc.startReplication(request('fullheld', 'fullheld-1'));
    const done = await sc.waitForReplication('fullheld-1', { pollMs: 20 });
    expect(done.kind).toBe('full');
    expect(describeTree(dst.standbyPath('fullheld'))).toEqual(describeTree(dir));
  });

  it('unconfirmed within the window it is cancelled, the standby untouched, and its id resumes it', async () => {
    const { dir, restorePoint } = await replicatedThenEdited('orphan');
    const t0 = Date.now();
    await sc.startReplication(request('orphan', 'orphan-1', { awaitConfirm: true }));
    const ended = await follow('orphan-1', (s) => s.phase === 'cancelled');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(WINDOW_MS);
    expect(ended.error?.message).toMatch(/not confirmed within 2 s .*posting id orphan-1 again resumes it/);
    expect(ended.awaitingConfirm).toBeUndefined();
    expect((await dc.getStandby('orphan')).current).toBe(restorePoint);

    const resumed = await sc.startReplication(request('orphan', 'orphan-1'));
    expect(resumed.attempt).toBe(2);
    expect(resumed.snapshotId).toBe(ended.snapshotId);
    const done = await sc.waitForReplication('orphan-1', { pollMs: 20 });
    expect(done.restorePoint).toBe(ended.snapshotId);
    expect(describeTree(dst.standbyPath('orphan'))).toEqual(describeTree(dir));
  });

  it('a cancel while it waits ends it at once', async () => {
    await replicatedThenEdited('cancelheld');
    await sc.startReplication(request('cancelheld', 'cancelheld-1', { awaitConfirm: true }));
    await follow('cancelheld-1', (s) => s.awaitingConfirm === true);
    const t0 = Date.now();
    await sc.cancelReplication('cancelheld-1');
    const s = await follow('cancelheld-1', (x) => x.phase === 'cancelled');
    expect(Date.now() - t0).toBeLessThan(WINDOW_MS);
    expect(s.error?.message).toBe('replication cancelled');
  });

  it('refuses an awaitConfirm that is not a boolean, naming the field and the value', async () => {
    await expect(
      sc.startReplication({ ...request('held', 'bad-1'), awaitConfirm: 'yes' as unknown as boolean }),
    ).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('awaitConfirm "yes": must be a boolean'),
    });
    await expect(
      sc.startReplication({ ...request('held', 'bad-1'), streamDuringSnapshot: 1 as unknown as boolean }),
    ).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('streamDuringSnapshot 1: must be a boolean'),
    });
    await expect(sc.getReplication('bad-1')).rejects.toMatchObject({ status: 404 });
  });
});
