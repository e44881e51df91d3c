// Destination side: what a standby commit is waiting for, so a slow or stuck one says so.
//
// A commit awaits work it does not own: builds of large files fed by the wire (build.ts), copies
// made ahead of it (prepare.ts), restore points retired for it (retention.ts). Each such await is
// named here while it is pending; StandbyManager logs the oldest one of a commit that has waited
// longer than COMMIT_WAIT_WARN_MS, and `GET /v1/standby/:v` shows it (`committing`). Why: a
// commit that never ends shows at the source only as a replication in phase `committing`, and a
// Migration as a transfer that does not finish; the line naming the await is what tells an
// operator (or the next developer) which part is stuck.

/** A commit waiting this long on one thing is logged (and again every as long after). */
export const COMMIT_WAIT_WARN_MS = 30_000;

export interface CommitWait {
  /** What is awaited, e.g. `prepared copy of db/big.dat`. */
  what: string;
  /** Since when, ms since the epoch. */
  since: number;
}

export class CommitWaits {
  private readonly pending = new Set<CommitWait>();
  readonly started = Date.now();

  constructor(
    readonly volume: string,
    readonly restorePoint: string,
  ) {}

  /** Awaits `p`, named `what` while it is pending. */
  async track<T>(what: string, p: Promise<T>): Promise<T> {
    const w: CommitWait = { what, since: Date.now() };
    this.pending.add(w);
    try {
      return await p;
    } finally {
      this.pending.delete(w);
    }
  }

  /** The longest-pending await, or null when the commit is working rather than waiting. */
  oldest(): CommitWait | null {
    let o: CommitWait | null = null;
    for (const w of this.pending) if (!o || w.since < o.since) o = w;
    return o;
  }

  /** How many awaits are pending. */
  get size(): number {
    return this.pending.size;
  }
}
