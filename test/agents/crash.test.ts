// kill -9 either agent in the middle of a large transfer, restart it, and finish: the standby
// ends up equal to the source, and the previous restore point stays whole meanwhile.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ReplicationStatus } from '../../datapath/protocol/agent-api.js';
import { startAgent, type AgentHandle } from '../../localenv/agents.js';
import { createCertAuthority, type CertAuthority } from '../../localenv/tls.js';
import { describeTree, prng, sleep } from './trees.js';

const LONG = 90_000;

let dir: string;
let ca: CertAuthority;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-agents-crash-'));
  ca = await createCertAuthority(path.join(dir, 'ca'), 'ferry-test-ca');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function pair(name: string): Promise<[AgentHandle, AgentHandle]> {
  return Promise.all([
    startAgent({ dir: path.join(dir, name, 'src'), name: 'src', ca }),
    startAgent({ dir: path.join(dir, name, 'dst'), name: 'dst', ca }),
  ]);
}

/** A volume with a small first generation replicated, then a large new file added. */
async function prepare(
  src: AgentHandle,
  dst: AgentHandle,
  volume: string,
): Promise<{ vol: string; firstTree: ReturnType<typeof describeTree>; first: ReplicationStatus }> {
  const c = src.client();
  const vol = (await c.createVolume(volume)).path;
  fs.mkdirSync(path.join(vol, 'd'));
  fs.writeFileSync(path.join(vol, 'd', 'small.bin'), prng(1 << 20, `${volume}-small`));
  fs.writeFileSync(path.join(vol, 'notes.txt'), 'generation one\n');
  await sleep(150);
  const first = await c.replicate(
    { volume, destination: { url: dst.url, token: dst.token, caCertPem: dst.caCertPem } },
    { pollMs: 50 },
  );
  const firstTree = describeTree(dst.standbyPath(volume));
  expect(firstTree).toEqual(describeTree(vol));
  // generation two: 160 MiB of new data so the transfer takes a while
  const fd = fs.openSync(path.join(vol, 'd', 'large.bin'), 'w');
  for (let i = 0; i < 10; i++) fs.writeSync(fd, prng(16 << 20, `${volume}-large-${i}`));
  fs.closeSync(fd);
  fs.writeFileSync(path.join(vol, 'notes.txt'), 'generation two\n');
  c.close();
  return { vol, firstTree, first };
}

/** Polls until the replication is transferring and has delivered at least `minBytes`. */
async function midTransfer(src: AgentHandle, id: string, minBytes = 1): Promise<ReplicationStatus> {
  const c = src.client();
  try {
    for (;;) {
      const s = await c.getReplication(id);
      if (s.phase === 'transferring' && s.bytesDone >= minBytes) return s;
      if (['succeeded', 'failed', 'cancelled'].includes(s.phase))
        throw new Error(`replication ended (${s.phase}) before it could be interrupted`);
      await sleep(10);
    }
  } finally {
    c.close();
  }
}

describe('kill -9 during a transfer', () => {
  it(
    'destination killed and restarted: the replication retries, resumes and commits; the old restore point stays whole',
    async () => {
      const [src, dst0] = await pair('dst-kill');
      let dst = dst0;
      try {
        const { vol, firstTree, first } = await prepare(src, dst, 'big');
        const c = src.client();
        const started = await c.startReplication({
          volume: 'big',
          destination: { url: dst.url, token: dst.token, caCertPem: dst.caCertPem },
          concurrency: 2,
        });
        const at = await midTransfer(src, started.id, 48 << 20);
        expect(at.bytesDone).toBeLessThan(at.bytesTotal);
        await dst.kill();
        // meanwhile the standby on disk is still exactly the first restore point
        expect(fs.readlinkSync(dst.standbyPath('big'))).toBe(path.join('rp', first.snapshotId as string));
        expect(describeTree(dst.standbyPath('big'))).toEqual(firstTree);
        await sleep(800);
        dst = await dst.restart();
        const done = await c.waitForReplication(started.id, { pollMs: 50 });
        expect(done.phase).toBe('succeeded');
        expect(done.retries).toBeGreaterThan(0);
        expect(done.bytesDone).toBe(done.bytesTotal);
        // resumed: what was delivered before the crash (>= 48 MiB) is not sent again; only the
        // two uploads in flight when the destination died (<= 2 x 8 MiB) are
        expect(done.chunkBytesOnWire - done.bytesTotal).toBeLessThan(17 << 20);
        expect(describeTree(dst.standbyPath('big'))).toEqual(describeTree(vol));
        const info = await dst.client().getStandby('big');
        expect(info.restorePoints.map((r) => r.id)).toEqual([first.snapshotId, done.snapshotId]);
        c.close();
      } finally {
        await Promise.all([src.stop(), dst.stop()]);
      }
    },
    LONG,
  );

  it(
    'source killed and restarted: the replication is reported interrupted, and re-posting its id resumes it',
    async () => {
      const [src0, dst] = await pair('src-kill');
      let src = src0;
      try {
        const { vol, firstTree } = await prepare(src, dst, 'big');
        const destination = { url: dst.url, token: dst.token, caCertPem: dst.caCertPem };
        let c = src.client();
        await c.startReplication({ id: 'nightly-big', volume: 'big', destination, concurrency: 2 });
        const at = await midTransfer(src, 'nightly-big');
        c.close();
        await src.kill();
        expect(describeTree(dst.standbyPath('big'))).toEqual(firstTree);
        src = await src.restart();
        c = src.client();
        const interrupted = await c.getReplication('nightly-big');
        expect(interrupted.phase).toBe('failed');
        expect(interrupted.error).toMatchObject({ code: 'interrupted', retryable: true });
        expect(interrupted.snapshotId).toBe(at.snapshotId);

        const resumed = await c.startReplication({ id: 'nightly-big', volume: 'big', destination });
        expect(resumed.attempt).toBe(2);
        const done = await c.waitForReplication('nightly-big', { pollMs: 50 });
        expect(done.phase).toBe('succeeded');
        expect(done.snapshotId).toBe(at.snapshotId); // same snapshot, not a new one
        expect(done.chunksSkipped).toBeGreaterThan(0); // what arrived before the crash is not resent
        expect(done.bytesTotal).toBeLessThan(interrupted.bytesTotal);
        expect(describeTree(dst.standbyPath('big'))).toEqual(describeTree(vol));
        // idempotent: posting the finished id again returns it, untouched
        expect((await c.startReplication({ id: 'nightly-big', volume: 'big', destination })).phase).toBe(
          'succeeded',
        );
        c.close();
      } finally {
        await Promise.all([src.stop(), dst.stop()]);
      }
    },
    LONG,
  );

  it(
    'a restarted agent truncates a torn chunk record and removes half-built restore points',
    async () => {
      const [src, dst] = await pair('cleanup');
      try {
        const { vol } = await prepare(src, dst, 'small');
        await dst.kill();
        const packs = path.join(dst.dataRoot, 'chunks', 'packs');
        const lastPack = path.join(packs, fs.readdirSync(packs).sort().at(-1) as string);
        const packSize = fs.statSync(lastPack).size;
        // a torn append: a record header promising more bytes than were written
        fs.appendFileSync(
          lastPack,
          Buffer.concat([
            Buffer.from('FCK1'),
            Buffer.alloc(32, 7),
            Buffer.from([0, 0, 0x80, 0]),
            Buffer.alloc(100),
          ]),
        );
        const halfTree = path.join(dst.dataRoot, 'standby', 'small', 'rp', 'half-built');
        fs.mkdirSync(halfTree, { recursive: true });
        fs.mkdirSync(path.join(dst.dataRoot, 'standby', 'small', 'tmp', 'staging-x', 'locked'), {
          recursive: true,
          mode: 0o500,
        });
        const dst2 = await dst.restart();
        expect(fs.statSync(lastPack).size).toBe(packSize);
        expect(fs.existsSync(halfTree)).toBe(false);
        expect(fs.readdirSync(path.join(dst.dataRoot, 'standby', 'small', 'tmp'))).toEqual([]);
        const s = await src
          .client()
          .replicate(
            { volume: 'small', destination: { url: dst2.url, token: dst2.token, caCertPem: dst2.caCertPem } },
            { pollMs: 50 },
          );
        expect(s.phase).toBe('succeeded');
        expect(describeTree(dst2.standbyPath('small'))).toEqual(describeTree(vol));
        await dst2.stop();
      } finally {
        await Promise.all([src.stop(), dst.stop()]);
      }
    },
    LONG,
  );
});
