// Where a transfer's time goes, stage by stage, on one agent: each stage's active time (the wall
// time during which at least one operation of that stage was in flight, so overlapping operations
// of one stage are not counted twice, while different stages overlap freely) and the bytes it
// handled. The agent serves the totals as ferry_agent_stage_seconds_total{stage} and
// ferry_agent_stage_bytes_total{stage} on GET /metrics; the data-path benchmark reads them before
// and after each scenario and prints every stage's share of the replication's wall time.
//
//   read     source: file blocks read from the volume (thread pool or synchronous)
//   cut      source: content-defined chunk boundaries (FastCDC, event loop)
//   hash     source: SHA-256 of new blocks' chunks (hash worker thread, or inline for small files)
//   pack     both: chunks appended to the chunk store's packs
//   send     source: chunk uploads in flight to the destination (read from the store, framing,
//            TLS, network, the destination's answer)
//   verify   destination: received chunks decoded and re-hashed; full replications' have?verify=1
//   write    destination: restore-point files written from chunks at commit (chunk reads included), and
//            large new files written while their chunks arrive (build.ts: the writes only)
import { performance } from 'node:perf_hooks';

export const STAGES = ['read', 'cut', 'hash', 'pack', 'send', 'verify', 'write'] as const;
export type Stage = (typeof STAGES)[number];

interface Acc {
  inFlight: number;
  since: number;
  ms: number;
  bytes: number;
}

export class StageClock {
  private readonly acc = new Map<Stage, Acc>(
    STAGES.map((s) => [s, { inFlight: 0, since: 0, ms: 0, bytes: 0 }]),
  );

  /** Starts one operation of `stage`; call the returned function once when it ends. */
  begin(stage: Stage): (bytes?: number) => void {
    const a = this.acc.get(stage) as Acc;
    if (a.inFlight++ === 0) a.since = performance.now();
    let ended = false;
    return (bytes = 0) => {
      if (ended) return;
      ended = true;
      a.bytes += bytes;
      if (--a.inFlight === 0) a.ms += performance.now() - a.since;
    };
  }

  /** Runs synchronous `fn` as one operation of `stage`. */
  time<T>(stage: Stage, bytes: number, fn: () => T): T {
    const end = this.begin(stage);
    try {
      return fn();
    } finally {
      end(bytes);
    }
  }

  /** Awaits `p` as one operation of `stage`. */
  async wait<T>(stage: Stage, bytes: number, p: Promise<T>): Promise<T> {
    const end = this.begin(stage);
    try {
      return await p;
    } finally {
      end(bytes);
    }
  }

  /** Totals so far (an operation still in flight counts up to now). */
  totals(): Array<{ stage: Stage; seconds: number; bytes: number }> {
    const now = performance.now();
    return STAGES.map((stage) => {
      const a = this.acc.get(stage) as Acc;
      const ms = a.ms + (a.inFlight > 0 ? now - a.since : 0);
      return { stage, seconds: ms / 1000, bytes: a.bytes };
    });
  }
}
