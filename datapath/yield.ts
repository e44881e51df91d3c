// Long runs of synchronous file-system calls (a snapshot's small files, a commit's directories and
// links) give the event loop a turn every few milliseconds, so the agent's other requests and
// transfers are served meanwhile: synchronous calls cost a few µs each where a thread-pool round
// trip costs as much again, but a run of thousands must not hold the loop.

/** Yields to the event loop once `ms` of synchronous work have passed since the last yield. */
export class SyncSlices {
  private last = Date.now();

  constructor(private readonly ms = 4) {}

  async maybeYield(): Promise<void> {
    if (Date.now() - this.last < this.ms) return;
    await new Promise<void>((r) => setImmediate(r));
    this.last = Date.now();
  }
}
