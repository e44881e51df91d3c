// ChunkPusher.openStream: streaming the snapshot's chunks while it is taken, decided by whether the
// destination has a restore point, without holding the snapshot back for that answer.
import { jest } from '@jest/globals';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentClient } from '../../../datapath/client/client.js';
import type { StandbyInfo } from '../../../datapath/destination/standby.js';
import type { ReplicationRequest, ReplicationStatus } from '../../../datapath/protocol/agent-api.js';
import { ChunkPusher, type PushJob } from '../../../datapath/source/push.js';
import { ChunkStore } from '../../../datapath/store/chunk-store.js';
import { applyDelta, deltaBases, ENC_DELTA } from '../../../datapath/protocol/delta.js';
import type { ChunkRef, Manifest } from '../../../datapath/protocol/manifest.js';
import { FRAME_HEADER } from '../../../datapath/protocol/wire.js';

function pushJob(kind: 'full' | 'incremental'): PushJob {
  return {
    status: {
      id: 'r1',
      kind,
      destination: { url: 'https://dest', volume: 'v' },
      bytesOnWire: 0,
      bytesTotal: 0,
      bytesDone: 0,
      chunksSent: 0,
      chunksDelta: 0,
      chunkBytesOnWire: 0,
    } as unknown as ReplicationStatus,
    request: { volume: 'v' } as unknown as ReplicationRequest,
    abort: new AbortController(),
    lastProgressAt: 0,
  };
}

/** A destination that holds every chunk it is asked about and answers findStandby when told. */
function fakeDestination() {
  let answer!: (s: StandbyInfo | null) => void;
  let fail!: (e: Error) => void;
  const standby = new Promise<StandbyInfo | null>((res, rej) => {
    answer = res;
    fail = rej;
  });
  const asked: string[] = [];
  const dest = {
    findStandby: jest.fn(() => standby),
    hasChunks: jest.fn(async (hashes: Buffer[]) => {
      for (const h of hashes) asked.push(h.toString('hex'));
      return hashes.map(() => true);
    }),
  };
  return { dest: dest as unknown as AgentClient, calls: dest, asked, answer, fail };
}

const hashes = Array.from({ length: 300 }, (_, i) => i.toString(16).padStart(64, '0'));
// Nothing is uploaded (the fake destination has every chunk), so the store is never read.
const pusher = () => new ChunkPusher({} as ChunkStore, {});

describe('ChunkPusher.openStream', () => {
  it('starts an incremental snapshot before the destination answers, and streams what it read meanwhile to a destination without a restore point', async () => {
    const d = fakeDestination();
    const j = pushJob('incremental');
    const stream = await pusher().openStream(j, d.dest);
    expect(d.calls.findStandby).toHaveBeenCalledWith('v', { signal: j.abort.signal });
    for (const h of hashes) stream.push({ hash: h, size: 65536, stored: true });
    stream.push({ hash: hashes[0] as string, size: 65536, stored: false }); // twice: asked once
    expect(d.calls.hasChunks).not.toHaveBeenCalled();
    d.answer({ current: null } as unknown as StandbyInfo);
    await stream.close(true);
    expect([...d.asked].sort()).toEqual(hashes);
    expect(j.delivered?.size).toBe(hashes.length);
  });

  it('drops what it queued, and queues nothing more, when the destination has a restore point this agent does not hold', async () => {
    const d = fakeDestination();
    const j = pushJob('incremental');
    const stream = await pusher().openStream(j, d.dest);
    for (const h of hashes.slice(0, 100)) stream.push({ hash: h, size: 65536, stored: true });
    d.answer({ current: 'rp-1' } as unknown as StandbyInfo);
    await new Promise((r) => setImmediate(r));
    for (const h of hashes.slice(100)) stream.push({ hash: h, size: 65536, stored: true });
    await stream.close(true);
    expect(d.calls.hasChunks).not.toHaveBeenCalled();
    expect(j.delivered?.size ?? 0).toBe(0);
  });

  it('does not stream an incremental when the question fails; planning sends what is missing', async () => {
    const d = fakeDestination();
    const j = pushJob('incremental');
    const stream = await pusher().openStream(j, d.dest);
    for (const h of hashes) stream.push({ hash: h, size: 65536, stored: true });
    d.fail(new Error('connect ECONNREFUSED'));
    await stream.close(true);
    expect(d.calls.hasChunks).not.toHaveBeenCalled();
  });

  it('streams a full replication without asking', async () => {
    const d = fakeDestination();
    const j = pushJob('full');
    const stream = await pusher().openStream(j, d.dest);
    for (const h of hashes) stream.push({ hash: h, size: 65536, stored: true });
    await stream.close(true);
    expect(d.calls.findStandby).not.toHaveBeenCalled();
    expect([...d.asked].sort()).toEqual(hashes);
  });

  describe('to a destination whose restore point is one of our snapshots', () => {
    let dir: string;
    let store: ChunkStore;
    beforeEach(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-stream-'));
      store = await ChunkStore.open(dir, { maxChunkSize: 1 << 20 });
    });
    afterEach(() => {
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

    it("sends the changed file's new chunks during the snapshot, as deltas against the restore point's chunks at the same offsets", async () => {
      // the restore point: db = four 64 KiB chunks, plus a small file
      const old = [0, 1, 2, 3].map((i) => crypto.randomBytes(65536 + i));
      const small = crypto.randomBytes(1000);
      for (const c of [...old, small]) await store.put(sha(c), c, { compress: false });
      const rpChunks: ChunkRef[] = old.map((c) => [sha(c), c.length]);
      const rp = {
        entries: [
          { path: 'db', type: 'file', chunks: rpChunks },
          { path: 'small', type: 'file', chunks: [[sha(small), small.length]] },
        ],
      } as unknown as Manifest;
      // the snapshot: chunks 1 and 3 of db had a 4 KiB page rewritten; a new small file too
      const next = old.map((c, i) => {
        if (i % 2 === 0) return c;
        const n = Buffer.from(c);
        crypto.randomBytes(4096).copy(n, 8192);
        return n;
      });
      const fresh = crypto.randomBytes(3000);
      for (const c of [next[1], next[3], fresh] as Buffer[]) await store.put(sha(c), c, { compress: false });
      const nextChunks: ChunkRef[] = next.map((c) => [sha(c), c.length]);

      const frames: Array<{ hash: string; stored: Buffer }> = [];
      const asked: string[] = [];
      let answer!: (s: StandbyInfo) => void;
      const dest = {
        findStandby: jest.fn(() => new Promise<StandbyInfo>((r) => (answer = r))),
        hasChunks: jest.fn(async (hs: Buffer[]) => {
          for (const h of hs) asked.push(h.toString('hex'));
          return hs.map(() => false);
        }),
        openChunkUpload: jest.fn(async () => {
          const parts: Buffer[] = [];
          return {
            write: async (data: Buffer, flushed?: () => void) => {
              parts.push(Buffer.from(data));
              flushed?.();
            },
            finish: async () => {
              const body = Buffer.concat(parts);
              for (let at = 0; at < body.length;) {
                const storedLen = body.readUInt32BE(at + FRAME_HEADER - 4);
                const hash = body.toString('hex', at, at + 32);
                frames.push({
                  hash,
                  stored: body.subarray(at + FRAME_HEADER, at + FRAME_HEADER + storedLen),
                });
                at += FRAME_HEADER + storedLen;
              }
              return { received: 0, stored: 0, duplicates: 0, bytes: 0, deltas: 0, needWhole: [] };
            },
            abort: () => undefined,
          };
        }),
      };
      const j = pushJob('incremental');
      let released = 0;
      const stream = await new ChunkPusher(store, {}).openStream(j, dest as unknown as AgentClient, (id) =>
        id === 'rp-1' ? { manifest: rp, release: () => released++ } : undefined,
      );
      // read before the answer: the first two chunks of db (one unchanged), placed first
      stream.place('db', nextChunks.slice(0, 2));
      for (const [h, n] of nextChunks.slice(0, 2))
        stream.push({ hash: h, size: n, stored: h !== rpChunks[0]?.[0] });
      answer({ current: 'rp-1' } as unknown as StandbyInfo);
      await new Promise((r) => setImmediate(r));
      stream.place('db', nextChunks);
      for (const [h, n] of nextChunks.slice(2)) stream.push({ hash: h, size: n, stored: true });
      stream.push({ hash: sha(fresh), size: fresh.length, stored: true }); // placed nowhere: left to planning
      await stream.close(true);

      const changed = [1, 3].map((i) => sha(next[i] as Buffer));
      expect(asked.sort()).toEqual([...changed].sort()); // neither the restore point's chunks nor the unplaced one
      expect(frames.map((f) => f.hash).sort()).toEqual([...changed].sort());
      for (const f of frames) {
        const i = next.findIndex((c) => sha(c) === f.hash);
        expect(f.stored[0]).toBe(ENC_DELTA);
        expect(f.stored.length).toBeLessThan(2 * 4096 + 200); // the page spans two file-aligned blocks at most
        // against the restore point's chunk at the same offset, and it rebuilds the new chunk
        expect(deltaBases(f.stored, f.hash)).toEqual([sha(old[i] as Buffer)]);
        const rebuilt = applyDelta(
          f.stored,
          [old[i] as Buffer],
          (next[i] as Buffer).length,
          f.hash,
          'sha256',
        );
        expect(rebuilt.equals(next[i] as Buffer)).toBe(true);
      }
      expect([...(j.delivered ?? [])].sort()).toEqual([...changed].sort());
      expect(j.status.chunksDelta).toBe(2);
      expect(released).toBe(1);
    });
  });
});
