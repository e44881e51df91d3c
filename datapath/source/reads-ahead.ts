// Reads started before their use (push.ts: the bases of chunks about to go as deltas, on the
// thread pool while earlier chunks are sent), each kept until its last announced use.

/** Chunk reads started ahead of their use, each kept until its last announced use. */
export class ReadsAhead {
  private readonly reads = new Map<string, { read: Promise<Buffer | null>; uses: number }>();

  constructor(private readonly start: (hex: string) => Promise<Buffer>) {}

  /** Reads held (started and not used up). */
  get held(): number {
    return this.reads.size;
  }

  /** Announces one use of `hex`, starting its read unless it is under way. */
  want(hex: string): void {
    const r = this.reads.get(hex);
    if (r) r.uses++;
    else this.reads.set(hex, { read: this.start(hex).catch(() => null), uses: 1 });
  }

  /** The read of `hex` (null when it failed), counting one use; undefined when none was started. */
  take(hex: string): Promise<Buffer | null> | undefined {
    const r = this.reads.get(hex);
    if (!r) return undefined;
    if (--r.uses <= 0) this.reads.delete(hex);
    return r.read;
  }
}
