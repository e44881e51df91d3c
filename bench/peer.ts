/** One tool under test, driven the same way for every scenario. */
export interface Peer {
  readonly name: string;
  /** Starts what the tool needs (daemons, repositories); not measured. */
  setup(): Promise<void>;
  /** Brings the tool's copy up to date with the source volume, measured. */
  run(scenario: ScenarioContext): Promise<PeerRun>;
  /** Stops everything the peer started; safe to call twice and after a failed setup. */
  stop(): Promise<void>;
  /**
   * Repeats an unchanged replication while tracing the tool's read syscalls, and reports the
   * bytes it read from files of the source volume (only Ferry implements it). Then, as a positive
   * control of the tracing itself, calls `touchOne` (which changes one file's mtime and returns its
   * size) and traces one more replication, which must read that file.
   */
  traceUnchangedReads?(touchOne: () => number): Promise<ContentReads>;
  /** Which build of the tool ran, for the report (Ferry: git describe and a digest of dist/). */
  build?(): string | undefined;
}

export interface ContentReads {
  bytes: number;
  files: number;
  method: string;
  /** Bytes the traced replication after touching one file read (must be > 0), and its size. */
  control?: { bytes: number; fileSize: number };
}

export interface ScenarioContext {
  name: string;
  /** True for the first scenario (nothing replicated yet). */
  first: boolean;
  changedBytes: number;
  volumeBytes: number;
}

export interface PeerRun {
  wallSeconds: number;
  bytesSent: number;
  cpuSeconds: number;
  peakRssBytes: number;
  /** Tool-specific numbers kept in the details file (self-reported bytes, per-process figures). */
  details: Record<string, number | string | boolean>;
}

/** Registers pids for emergency clean-up (Ctrl-C) and reports progress. */
export interface BenchContext {
  workDir: string;
  /**
   * The source volume every tool reads. A peer's setup() may move it (Ferry's source agent owns
   * its volume folder); the dataset is generated after every setup() has run.
   */
  sourceDir: string;
  log(message: string): void;
  /** A process (group) the benchmark started; ended on Ctrl-C or by the reaper if still listed. */
  trackPid(pid: number): void;
  /** The process has exited: never signal that pid again (it may be reused). */
  untrackPid(pid: number): void;
}
