// AgentControl.nextStatus and waitForReplication against an agent that waits on the phase and one that answers
// at once (from before the phase wait): the requests it makes and how fast it makes them.
import { AgentControl } from '../../../datapath/client/control.js';
import type { AgentHttp } from '../../../datapath/client/http.js';
import type { ReplicationPhase, ReplicationStatus } from '../../../datapath/protocol/agent-api.js';

/** An agent answering each status request with the next of `phases`, after `delayMs`. */
function agent(phases: ReplicationPhase[], delayMs = 0): { control: AgentControl; paths: string[] } {
  const paths: string[] = [];
  const http = {
    async json(o: { path: string }): Promise<ReplicationStatus> {
      paths.push(o.path);
      await new Promise((r) => setTimeout(r, delayMs));
      return { id: 'r1', phase: phases[Math.min(paths.length - 1, phases.length - 1)] } as ReplicationStatus;
    },
  };
  return { control: new AgentControl(http as unknown as AgentHttp), paths };
}

describe('waitForReplication', () => {
  it('names the phase it last saw, so the agent answers when it changes', async () => {
    const { control, paths } = agent(['snapshotting', 'transferring', 'succeeded']);
    const t0 = Date.now();
    expect((await control.waitForReplication('r1', { pollMs: 400 })).phase).toBe('succeeded');
    expect(paths).toEqual([
      '/v1/replications/r1',
      '/v1/replications/r1?phase=snapshotting&waitMs=400',
      '/v1/replications/r1?phase=transferring&waitMs=400',
    ]);
    expect(Date.now() - t0).toBeLessThan(300); // every answer was a change: no sleeping between them
  });

  it('polls no faster than pollMs when the agent answers at once with the same phase', async () => {
    const { control, paths } = agent(['planning', 'planning', 'planning', 'succeeded']);
    const t0 = Date.now();
    await control.waitForReplication('r1', { pollMs: 150 });
    expect(paths).toHaveLength(4);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2 * 150 - 20); // slept after each unchanged answer
  });

  it('does not sleep after an answer that took the whole wait', async () => {
    const { control, paths } = agent(['planning', 'planning', 'planning', 'succeeded'], 120);
    const t0 = Date.now();
    await control.waitForReplication('r1', { pollMs: 100, timeoutMs: 5_000 });
    expect(paths).toHaveLength(4);
    expect(Date.now() - t0).toBeLessThan(4 * 120 + 150);
  });

  it('asks an agent to wait at most its limit', async () => {
    const { control, paths } = agent(['planning', 'succeeded']);
    await control.waitForReplication('r1', { pollMs: 60_000 });
    expect(paths[1]).toBe('/v1/replications/r1?phase=planning&waitMs=10000');
  });
});

describe('nextStatus', () => {
  it("waits the rest of waitMs itself with the caller's sleep when the agent answered at once", async () => {
    const { control, paths } = agent(['transferring']);
    const slept: number[] = [];
    const s = await control.nextStatus('r1', 'transferring', 500, {
      sleep: async (ms) => {
        slept.push(ms);
      },
    });
    expect(s.phase).toBe('transferring');
    expect(paths).toEqual(['/v1/replications/r1?phase=transferring&waitMs=500']);
    expect(slept).toHaveLength(1);
    expect(slept[0]).toBeGreaterThan(400);
    expect(slept[0]).toBeLessThanOrEqual(500);
  });

  it('does not wait after a change, and its own wait ends when the signal aborts', async () => {
    const { control } = agent(['committing', 'transferring']);
    const slept: number[] = [];
    const sleep = async (ms: number): Promise<void> => void slept.push(ms);
    expect((await control.nextStatus('r1', 'transferring', 500, { sleep })).phase).toBe('committing');
    expect(slept).toEqual([]);
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 50);
    expect((await control.nextStatus('r1', 'transferring', 5_000, { signal: ac.signal })).phase).toBe(
      'transferring',
    );
    expect(Date.now() - t0).toBeLessThan(1_000);
  });
});
