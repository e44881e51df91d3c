// The world of the fault tests (test/faults/): Temporal Server on PostgreSQL (not the dev
// server), two API-only clusters with the CRDs, a storage agent per cluster and two `ferry worker`
// processes on one task queue, all real and on loopback, state under `.ferry/<name>/`
// (test/harness/faults-env.ts starts the servers).
// Each test file starts one in beforeAll and stops it in afterAll.
//
//   const f = await startFaultWorld('kills', say);
//   await f.world.kubectl('source', ['apply', '-f', '-'], yaml);
//   await f.workerB.kill(); f.workerB = await f.workerB.restart();
import { rm } from 'node:fs/promises';
import type { Environment } from '../../localenv/environment.js';
import type { TemporalPostgres } from '../../localenv/temporal-postgres.js';
import { startWorker, type WorkerHandle } from '../../localenv/worker.js';
import { startDrWorld, type DrWorld } from './dr-world.js';
import { secs, startFaultsEnvironment } from './faults-env.js';

export interface FaultWorld {
  env: Environment;
  temporal: TemporalPostgres;
  world: DrWorld;
  /** The second worker on the world's task queue (the first is world.worker); replace it on restart. */
  workerB: WorkerHandle;
  /**
   * Stops the workers, the agents (those in world.agents: put a restarted agent's new handle
   * there) and the servers; the volumes' bytes go, logs and the database stay.
   */
  stop(): Promise<void>;
}

// A first run also builds Temporal Server and its SQL tool (minutes; tools/servers.sh).
export async function startFaultWorld(name: string, log: (line: string) => void): Promise<FaultWorld> {
  const t0 = Date.now();
  const started = await startFaultsEnvironment(name, { temporal: 'postgres' });
  const env = started.env;
  try {
    const world = await startDrWorld(name, { context: started.context });
    const f: FaultWorld = {
      env,
      temporal: env.temporal as TemporalPostgres,
      world,
      workerB: await startWorker({ ...world.workerOptions, name: 'worker-b' }),
      async stop() {
        await f.workerB.stop().catch(() => undefined);
        await world.stop().catch(() => undefined);
        // Agents a test restarted are new handles in world.agents: stop those too.
        await Promise.all(Object.values(world.agents).map((a) => a.stop().catch(() => undefined)));
        await env.stop();
        for (const a of Object.values(world.agents)) await rm(a.dataRoot, { recursive: true, force: true });
      },
    };
    log(
      `environment, agents and 2 workers on task queue ${world.taskQueue} ready in ${secs(Date.now() - t0)}`,
    );
    return f;
  } catch (err) {
    await env.stop().catch(() => undefined);
    throw err;
  }
}
