// ChunkPusher.openStream: streaming the snapshot's chunks while it is taken, decided by whether the
// destination has a restore point, without holding the snapshot back for that answer.
import { jest } from '@jest/globals';
import type { AgentClient } from '../../../datapath/client/client.js';
import type { StandbyInfo } from '../../../datapath/destination/standby.js';
import type { ReplicationRequest, ReplicationStatus } from '../../../datapath/protocol/agent-api.js';
import { ChunkPusher, type PushJob } from '../../../datapath/source/push.js';
import type { ChunkStore } from '../../../datapath/store/chunk-store.js';

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
    expect(d.calls.findStandby).toHaveBeenCalledWith('v');
    for (const h of hashes) stream.push({ hash: h, size: 65536, stored: true });
    stream.push({ hash: hashes[0] as string, size: 65536, stored: false }); // twice: asked once
    expect(d.calls.hasChunks).not.toHaveBeenCalled();
    d.answer({ current: null } as unknown as StandbyInfo);
    await stream.close(true);
    expect([...d.asked].sort()).toEqual(hashes);
    expect(j.delivered?.size).toBe(hashes.length);
  });

  it('drops what it queued, and queues nothing more, when the destination has a restore point', async () => {
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
});
