// Heartbeats for activities that have no progress of their own to report: a plain beat every
// few seconds while they run, so that the workflows can give them a short heartbeat timeout and
// notice a worker killed mid-call in seconds rather than after the whole start-to-close timeout
// (a minute for the API calls; the seeded kill suite showed such waits in its slowest migrations).
import { Context } from '@temporalio/activity';

export const KEEP_ALIVE_MS = 5_000;

export function keepAlive<I, O>(activity: (input: I) => Promise<O>): (input: I) => Promise<O> {
  return async (input) => {
    const ctx = Context.current();
    const beat = setInterval(() => ctx.heartbeat(), KEEP_ALIVE_MS);
    try {
      return await activity(input);
    } finally {
      clearInterval(beat);
    }
  };
}
