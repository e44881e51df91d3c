// The client's calls to an agent's control port: health, info and metrics; volumes and their
// snapshots (source side); replications, started, followed and cancelled (source side); standby
// volumes, their restore points, commit and promote (destination side). Each call is one request
// through http.ts; nextStatus and waitForReplication wait (long polls) on a replication's phase.
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { DESTINATION_CHECK_MS, MAX_REPLICATION_WAIT_MS } from '../protocol/agent-api.js';
import type {
  AgentInfo,
  CommitResult,
  DestinationCheck,
  Manifest,
  PromoteResult,
  ReplicationPhase,
  ReplicationRequest,
  ReplicationStatus,
  SnapshotRequest,
  SnapshotSummary,
  StandbyInfo,
  VolumeInfo,
} from '../protocol/agent-api.js';
import type { ManifestDelta } from '../protocol/manifest-delta.js';
import type { BuildRequest } from '../protocol/build-hints.js';
import { SESSION_HEADER } from '../protocol/wire.js';
import { AgentApiError, AgentUnreachableError, ReplicationFailedError } from './errors.js';
import { apiError, enc, type AgentHttp } from './http.js';

const brotli = promisify(zlib.brotliCompress);

/** Resolves after `ms` (at once when `ms` ≤ 0), or as soon as `signal` aborts. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export interface WaitOptions {
  onProgress?: (status: ReplicationStatus) => void;
  pollMs?: number;
  /** Give up (throw) after this long; default: no limit. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Keep polling through this long of the agent being unreachable (e.g. restarting); default 60 s. */
  unreachableGraceMs?: number;
}

export class AgentControl {
  constructor(protected readonly http: AgentHttp) {}

  health(): Promise<{ ok: boolean }> {
    return this.http.json({ method: 'GET', path: '/healthz' });
  }

  info(): Promise<AgentInfo> {
    return this.http.json({ method: 'GET', path: '/v1/info' });
  }

  async metrics(): Promise<string> {
    const r = await this.http.request({ method: 'GET', path: '/metrics' });
    if (r.status >= 400) throw apiError(r);
    return r.body.toString('utf8');
  }

  async listVolumes(): Promise<VolumeInfo[]> {
    return (await this.http.json<{ volumes: VolumeInfo[] }>({ method: 'GET', path: '/v1/volumes' })).volumes;
  }

  /** Creates (if absent) the directory of volume `name` and returns where it lives. */
  createVolume(name: string): Promise<VolumeInfo> {
    return this.http.json({ method: 'PUT', path: `/v1/volumes/${enc(name)}` });
  }

  getVolume(name: string): Promise<VolumeInfo> {
    return this.http.json({ method: 'GET', path: `/v1/volumes/${enc(name)}` });
  }

  createSnapshot(volume: string, opts: SnapshotRequest = {}): Promise<SnapshotSummary> {
    return this.http.json({
      method: 'POST',
      path: `/v1/volumes/${enc(volume)}/snapshots`,
      json: opts,
      timeoutMs: 3_600_000,
    });
  }

  async listSnapshots(volume: string): Promise<SnapshotSummary[]> {
    return (
      await this.http.json<{ snapshots: SnapshotSummary[] }>({
        method: 'GET',
        path: `/v1/volumes/${enc(volume)}/snapshots`,
      })
    ).snapshots;
  }

  getSnapshot(volume: string, id: string): Promise<SnapshotSummary> {
    return this.http.json({ method: 'GET', path: `/v1/volumes/${enc(volume)}/snapshots/${enc(id)}` });
  }

  getSnapshotManifest(volume: string, id: string): Promise<Manifest> {
    return this.http.json({
      method: 'GET',
      path: `/v1/volumes/${enc(volume)}/snapshots/${enc(id)}/manifest`,
    });
  }

  deleteSnapshot(volume: string, id: string): Promise<void> {
    return this.http.json({ method: 'DELETE', path: `/v1/volumes/${enc(volume)}/snapshots/${enc(id)}` });
  }

  startReplication(req: ReplicationRequest): Promise<ReplicationStatus> {
    return this.http.json({ method: 'POST', path: '/v1/replications', json: req });
  }

  /**
   * A replication's status; with `after`, answered once its phase is no longer `after.phase` or
   * after `after.waitMs` (an agent from before 2026-12-03 answers at once).
   */
  getReplication(
    id: string,
    after?: { phase: ReplicationPhase; waitMs: number; signal?: AbortSignal },
  ): Promise<ReplicationStatus> {
    const q = after ? `?phase=${after.phase}&waitMs=${after.waitMs}` : '';
    return this.http.json({
      method: 'GET',
      path: `/v1/replications/${enc(id)}${q}`,
      ...(after?.signal ? { signal: after.signal } : {}),
    });
  }

  /**
   * This (source) agent's own question to replication `id`'s destination about its standby volume,
   * answered within `timeoutMs` (DestinationCheck).
   */
  askDestination(id: string, timeoutMs?: number): Promise<DestinationCheck> {
    return this.http.json({
      method: 'GET',
      path: `/v1/replications/${enc(id)}/destination${timeoutMs !== undefined ? `?timeoutMs=${timeoutMs}` : ''}`,
      timeoutMs: (timeoutMs ?? DESTINATION_CHECK_MS.default) + 5_000,
    });
  }

  async listReplications(): Promise<ReplicationStatus[]> {
    return (
      await this.http.json<{ replications: ReplicationStatus[] }>({ method: 'GET', path: '/v1/replications' })
    ).replications;
  }

  cancelReplication(id: string): Promise<ReplicationStatus> {
    return this.http.json({ method: 'DELETE', path: `/v1/replications/${enc(id)}` });
  }

  /**
   * The status of replication `id` once its phase is no longer `phase`, or after `waitMs`: the
   * agent holds the request until then (a long poll). An agent from before that answers at once;
   * then this waits the rest of `waitMs` itself (with `sleep`, default a timer that `signal`
   * ends early), so a caller looping on it never asks faster than once per `waitMs`.
   */
  async nextStatus(
    id: string,
    phase: ReplicationPhase,
    waitMs: number,
    opts: { signal?: AbortSignal; sleep?: (ms: number) => Promise<unknown> } = {},
  ): Promise<ReplicationStatus> {
    const asked = Date.now();
    const s = await this.getReplication(id, {
      phase,
      waitMs: Math.min(waitMs, MAX_REPLICATION_WAIT_MS),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const left = waitMs - (Date.now() - asked);
    if (s.phase === phase && left > 0) await (opts.sleep ?? ((ms) => pause(ms, opts.signal)))(left);
    return s;
  }

  /**
   * Follows a replication until it ends; resolves with the final status when it succeeded, throws
   * ReplicationFailedError when it failed or was cancelled.
   */
  async waitForReplication(id: string, opts: WaitOptions = {}): Promise<ReplicationStatus> {
    const pollMs = opts.pollMs ?? 250;
    const deadline = opts.timeoutMs ? Date.now() + opts.timeoutMs : Infinity;
    const grace = opts.unreachableGraceMs ?? 60_000;
    const signal = opts.signal ? { signal: opts.signal } : {};
    let unreachableSince: number | null = null;
    let last: ReplicationPhase | null = null;
    for (;;) {
      if (opts.signal?.aborted) throw new Error(`waiting for replication ${id} aborted`);
      const asked = Date.now();
      try {
        const s: ReplicationStatus = last
          ? await this.nextStatus(id, last, pollMs, signal)
          : await this.getReplication(id);
        unreachableSince = null;
        opts.onProgress?.(s);
        if (s.phase === 'succeeded') return s;
        if (s.phase === 'failed' || s.phase === 'cancelled') throw new ReplicationFailedError(s);
        last = s.phase;
      } catch (err) {
        if (!(err instanceof AgentUnreachableError)) throw err;
        unreachableSince ??= Date.now();
        if (Date.now() - unreachableSince > grace) throw err;
        await pause(pollMs - (Date.now() - asked), opts.signal);
      }
      if (Date.now() > deadline)
        throw new Error(`replication ${id} did not finish within ${opts.timeoutMs} ms`);
    }
  }

  /** startReplication + waitForReplication. */
  async replicate(req: ReplicationRequest, opts: WaitOptions = {}): Promise<ReplicationStatus> {
    const s = await this.startReplication(req);
    return this.waitForReplication(s.id, opts);
  }

  async listStandby(): Promise<StandbyInfo[]> {
    return (await this.http.json<{ standby: StandbyInfo[] }>({ method: 'GET', path: '/v1/standby' })).standby;
  }

  getStandby(volume: string, opts: { signal?: AbortSignal } = {}): Promise<StandbyInfo> {
    return this.http.json({
      method: 'GET',
      path: `/v1/standby/${enc(volume)}`,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }

  /** Like getStandby, but null when the destination has no restore point of `volume`. */
  async findStandby(volume: string, opts: { signal?: AbortSignal } = {}): Promise<StandbyInfo | null> {
    try {
      return await this.getStandby(volume, opts);
    } catch (err) {
      if (err instanceof AgentApiError && err.status === 404) return null;
      throw err;
    }
  }

  /**
   * Asks the destination to start copying, from its current restore point of `volume`, the large
   * files among `paths` whose changes are on their way (destination/prepare.ts). Returns how many
   * copies it started. With `forRestorePoint` (the snapshot the changes belong to), nothing is
   * started once the destination has committed that restore point: a hint that arrives late must
   * not copy files of the restore point it replaced.
   */
  async prepareStandby(
    volume: string,
    paths: string[],
    opts: { signal?: AbortSignal; forRestorePoint?: string } = {},
  ): Promise<number> {
    const r = await this.http.json<{ preparing: number }>({
      method: 'POST',
      path: `/v1/standby/${enc(volume)}/prepare`,
      json: { paths, ...(opts.forRestorePoint ? { for: opts.forRestorePoint } : {}) },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return r.preparing;
  }

  /**
   * Names chunks of the large new files of restore point `forRestorePoint` of `volume`, so the
   * destination writes them while the chunks arrive (destination/build.ts). Returns how many files
   * it started writing.
   */
  async buildStandby(
    volume: string,
    forRestorePoint: string,
    files: BuildRequest['files'],
    opts: { signal?: AbortSignal } = {},
  ): Promise<number> {
    const r = await this.http.json<{ building: number }>({
      method: 'POST',
      path: `/v1/standby/${enc(volume)}/build`,
      json: { for: forRestorePoint, files },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return r.building;
  }

  getRestorePointManifest(volume: string, id: string): Promise<Manifest> {
    return this.http.json({
      method: 'GET',
      path: `/v1/standby/${enc(volume)}/restore-points/${enc(id)}/manifest`,
    });
  }

  /**
   * Commits a manifest as the new restore point of standby `volume` (low level: replications do
   * this themselves). Sends it Brotli-compressed; returns the commit result and the bytes sent.
   * A ManifestDelta (manifest-delta.ts) against a restore point the destination holds is accepted
   * too; one against a base it lacks fails with AgentApiError code unknown_base.
   */
  async commitStandby(
    volume: string,
    manifest: Manifest | ManifestDelta,
    opts: { retain?: number; full?: boolean; session?: string; signal?: AbortSignal } = {},
  ): Promise<{ result: CommitResult; bytesSent: number }> {
    const raw = Buffer.from(JSON.stringify(manifest));
    const body = await brotli(raw, {
      params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: 4,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
      },
    });
    const q = new URLSearchParams();
    if (opts.retain !== undefined) q.set('retain', String(opts.retain));
    if (opts.full) q.set('full', '1');
    const result = await this.http.json<CommitResult>({
      method: 'POST',
      path: `/v1/standby/${enc(volume)}/commit${q.size ? `?${q}` : ''}`,
      body,
      headers: {
        'content-type': 'application/json',
        'content-encoding': 'br',
        ...(opts.session ? { [SESSION_HEADER]: opts.session } : {}),
      },
      timeoutMs: 3_600_000,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return { result, bytesSent: body.length };
  }

  promote(
    volume: string,
    opts: { restorePoint?: string; target?: string; replace?: boolean } = {},
  ): Promise<PromoteResult> {
    return this.http.json({
      method: 'POST',
      path: `/v1/standby/${enc(volume)}/promote`,
      json: opts,
      timeoutMs: 3_600_000,
    });
  }
}
