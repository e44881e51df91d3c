// Typed client for the storage agent API (see agent-api.ts for the routes). Used by activities to
// drive agents, by the benchmarks and tests, and by a source agent to talk to a destination agent.
//
//   const c = new AgentClient({ url: 'https://127.0.0.1:9001', token, caCertPem });
//   const r = await c.startReplication({ volume: 'pv-1', destination: { url, token, caCertPem }, mode: 'DisasterRecovery' });
//   const done = await c.waitForReplication(r.id, { onProgress: (s) => console.log(s.bytesDone, s.bytesTotal, s.etaSeconds) });
//
// Errors: an HTTP error answer becomes AgentApiError (status, code, retryable, details); a failure
// to reach the agent (refused, reset, timeout, TLS) becomes AgentUnreachableError (retryable); a
// replication that ends failed or cancelled makes waitForReplication throw ReplicationFailedError.
import https from 'node:https';
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import type {
  AgentInfo,
  CommitResult,
  Manifest,
  PromoteResult,
  ReplicationRequest,
  ReplicationStatus,
  SnapshotSummary,
  StandbyInfo,
  VolumeInfo,
} from '../protocol/agent-api.js';
import type { ErrorBody } from '../errors.js';
import type { ManifestDelta } from '../protocol/manifest-delta.js';
import type { ReceiveResult } from '../destination/receive.js';
import { SESSION_HEADER } from '../protocol/wire.js';

const brotli = promisify(zlib.brotliCompress);

export interface AgentEndpoint {
  /** Control URL, e.g. https://127.0.0.1:9001. */
  url: string;
  token: string;
  /** PEM CA bundle to trust; default: the system CAs. */
  caCertPem?: string;
  /** Data URL, e.g. https://127.0.0.1:9010; default: the control host with the advertised data port. */
  dataUrl?: string;
}

export interface ClientOptions {
  /** Socket idle timeout per request (ms); default 120 s. */
  timeoutMs?: number;
  /** Concurrent connections per port; default 8. */
  maxSockets?: number;
}

export class AgentApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AgentApiError';
  }
}

export class AgentUnreachableError extends Error {
  readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AgentUnreachableError';
  }
}

export class ReplicationFailedError extends Error {
  constructor(readonly status: ReplicationStatus) {
    super(`replication ${status.id} ${status.phase}: ${status.error?.message ?? 'no error recorded'}`);
    this.name = 'ReplicationFailedError';
  }
}

/** True when retrying the failed operation may succeed (outage, not bad input). */
export function isRetryable(err: unknown): boolean {
  return (err instanceof AgentApiError && err.retryable) || err instanceof AgentUnreachableError;
}

interface Raw {
  status: number;
  body: Buffer;
}

interface RequestOptions {
  method: string;
  path: string;
  data?: boolean;
  body?: Buffer | string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  timeoutMs?: number;
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

/** A chunk upload in progress (one POST /v1/chunks). */
export interface ChunkUpload {
  /** Writes bytes, resolving once the stream accepts more (backpressure). */
  write(data: Buffer): Promise<void>;
  /** Ends the body and returns the destination's answer. */
  finish(): Promise<ReceiveResult>;
  abort(err?: Error): void;
}

export class AgentClient {
  readonly endpoint: AgentEndpoint;
  private readonly agent: https.Agent;
  private readonly timeoutMs: number;
  private dataUrl: string | undefined;

  constructor(endpoint: AgentEndpoint, opts: ClientOptions = {}) {
    this.endpoint = { ...endpoint, url: endpoint.url.replace(/\/+$/, '') };
    this.dataUrl = endpoint.dataUrl?.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 120_000;
    this.agent = new https.Agent({
      keepAlive: true,
      maxSockets: opts.maxSockets ?? 8,
      ...(endpoint.caCertPem ? { ca: endpoint.caCertPem } : {}),
    });
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  private async base(data: boolean): Promise<string> {
    if (!data) return this.endpoint.url;
    if (!this.dataUrl) {
      const info = await this.info();
      const u = new URL(this.endpoint.url);
      u.port = String(info.dataPort);
      this.dataUrl = u.origin;
    }
    return this.dataUrl;
  }

  private async request(o: RequestOptions): Promise<Raw> {
    const url = new URL(o.path, await this.base(o.data ?? false));
    return new Promise<Raw>((resolve, reject) => {
      const req = https.request(
        url,
        {
          method: o.method,
          agent: this.agent,
          headers: {
            authorization: `Bearer ${this.endpoint.token}`,
            ...(o.body !== undefined ? { 'content-length': String(Buffer.byteLength(o.body)) } : {}),
            ...o.headers,
          },
          ...(o.signal ? { signal: o.signal } : {}),
          timeout: o.timeoutMs ?? this.timeoutMs,
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
          res.on('error', (err) => reject(unreachable(url, err)));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${o.timeoutMs ?? this.timeoutMs} ms`)));
      req.on('error', (err) => reject(unreachable(url, err)));
      req.end(o.body);
    });
  }

  private async json<T>(o: RequestOptions & { json?: unknown }): Promise<T> {
    const body = o.json !== undefined ? JSON.stringify(o.json) : o.body;
    const r = await this.request({
      ...o,
      ...(body !== undefined ? { body } : {}),
      headers: { ...(o.json !== undefined ? { 'content-type': 'application/json' } : {}), ...o.headers },
    });
    if (r.status >= 400) throw apiError(r);
    if (r.status === 204 || r.body.length === 0) return undefined as T;
    return JSON.parse(r.body.toString('utf8')) as T;
  }

  // ---- control port -----------------------------------------------------------------------

  health(): Promise<{ ok: boolean }> {
    return this.json({ method: 'GET', path: '/healthz' });
  }

  info(): Promise<AgentInfo> {
    return this.json({ method: 'GET', path: '/v1/info' });
  }

  async metrics(): Promise<string> {
    const r = await this.request({ method: 'GET', path: '/metrics' });
    if (r.status >= 400) throw apiError(r);
    return r.body.toString('utf8');
  }

  async listVolumes(): Promise<VolumeInfo[]> {
    return (await this.json<{ volumes: VolumeInfo[] }>({ method: 'GET', path: '/v1/volumes' })).volumes;
  }

  /** Creates (if absent) the directory of volume `name` and returns where it lives. */
  createVolume(name: string): Promise<VolumeInfo> {
    return this.json({ method: 'PUT', path: `/v1/volumes/${enc(name)}` });
  }

  getVolume(name: string): Promise<VolumeInfo> {
    return this.json({ method: 'GET', path: `/v1/volumes/${enc(name)}` });
  }

  createSnapshot(volume: string, opts: { full?: boolean; parent?: string } = {}): Promise<SnapshotSummary> {
    return this.json({
      method: 'POST',
      path: `/v1/volumes/${enc(volume)}/snapshots`,
      json: opts,
      timeoutMs: 3_600_000,
    });
  }

  async listSnapshots(volume: string): Promise<SnapshotSummary[]> {
    return (
      await this.json<{ snapshots: SnapshotSummary[] }>({
        method: 'GET',
        path: `/v1/volumes/${enc(volume)}/snapshots`,
      })
    ).snapshots;
  }

  getSnapshot(volume: string, id: string): Promise<SnapshotSummary> {
    return this.json({ method: 'GET', path: `/v1/volumes/${enc(volume)}/snapshots/${enc(id)}` });
  }

  getSnapshotManifest(volume: string, id: string): Promise<Manifest> {
    return this.json({ method: 'GET', path: `/v1/volumes/${enc(volume)}/snapshots/${enc(id)}/manifest` });
  }

  deleteSnapshot(volume: string, id: string): Promise<void> {
    return this.json({ method: 'DELETE', path: `/v1/volumes/${enc(volume)}/snapshots/${enc(id)}` });
  }

  startReplication(req: ReplicationRequest): Promise<ReplicationStatus> {
    return this.json({ method: 'POST', path: '/v1/replications', json: req });
  }

  getReplication(id: string): Promise<ReplicationStatus> {
    return this.json({ method: 'GET', path: `/v1/replications/${enc(id)}` });
  }

  async listReplications(): Promise<ReplicationStatus[]> {
    return (
      await this.json<{ replications: ReplicationStatus[] }>({ method: 'GET', path: '/v1/replications' })
    ).replications;
  }

  cancelReplication(id: string): Promise<ReplicationStatus> {
    return this.json({ method: 'DELETE', path: `/v1/replications/${enc(id)}` });
  }

  /**
   * Polls a replication until it ends; resolves with the final status when it succeeded, throws
   * ReplicationFailedError when it failed or was cancelled.
   */
  async waitForReplication(id: string, opts: WaitOptions = {}): Promise<ReplicationStatus> {
    const pollMs = opts.pollMs ?? 250;
    const deadline = opts.timeoutMs ? Date.now() + opts.timeoutMs : Infinity;
    const grace = opts.unreachableGraceMs ?? 60_000;
    let unreachableSince: number | null = null;
    for (;;) {
      if (opts.signal?.aborted) throw new Error(`waiting for replication ${id} aborted`);
      let s: ReplicationStatus | null = null;
      try {
        s = await this.getReplication(id);
        unreachableSince = null;
      } catch (err) {
        if (!(err instanceof AgentUnreachableError)) throw err;
        unreachableSince ??= Date.now();
        if (Date.now() - unreachableSince > grace) throw err;
      }
      if (s) {
        opts.onProgress?.(s);
        if (s.phase === 'succeeded') return s;
        if (s.phase === 'failed' || s.phase === 'cancelled') throw new ReplicationFailedError(s);
      }
      if (Date.now() > deadline)
        throw new Error(`replication ${id} did not finish within ${opts.timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /** startReplication + waitForReplication. */
  async replicate(req: ReplicationRequest, opts: WaitOptions = {}): Promise<ReplicationStatus> {
    const s = await this.startReplication(req);
    return this.waitForReplication(s.id, opts);
  }

  async listStandby(): Promise<StandbyInfo[]> {
    return (await this.json<{ standby: StandbyInfo[] }>({ method: 'GET', path: '/v1/standby' })).standby;
  }

  getStandby(volume: string): Promise<StandbyInfo> {
    return this.json({ method: 'GET', path: `/v1/standby/${enc(volume)}` });
  }

  /** Like getStandby, but null when the destination has no restore point of `volume`. */
  async findStandby(volume: string): Promise<StandbyInfo | null> {
    try {
      return await this.getStandby(volume);
    } catch (err) {
      if (err instanceof AgentApiError && err.status === 404) return null;
      throw err;
    }
  }

  getRestorePointManifest(volume: string, id: string): Promise<Manifest> {
    return this.json({
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
    const result = await this.json<CommitResult>({
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
    return this.json({
      method: 'POST',
      path: `/v1/standby/${enc(volume)}/promote`,
      json: opts,
      timeoutMs: 3_600_000,
    });
  }

  // ---- data port ----------------------------------------------------------------------------

  /** Which of `hashes` (32-byte SHA-256 each) the agent holds; with `verify`, re-hashed first. */
  async hasChunks(
    hashes: Buffer[],
    opts: { verify?: boolean; session?: string; signal?: AbortSignal } = {},
  ): Promise<boolean[]> {
    const r = await this.request({
      method: 'POST',
      path: `/v1/chunks/have${opts.verify ? '?verify=1' : ''}`,
      data: true,
      body: Buffer.concat(hashes),
      headers: {
        'content-type': 'application/octet-stream',
        ...(opts.session ? { [SESSION_HEADER]: opts.session } : {}),
      },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (r.status >= 400) throw apiError(r);
    if (r.body.length !== hashes.length)
      throw new AgentApiError(
        502,
        'bad_answer',
        `have: ${r.body.length} answers for ${hashes.length} hashes`,
        true,
      );
    return [...r.body].map((b) => b === 1);
  }

  /** Opens a streaming chunk upload (frames of wire.ts). */
  async openChunkUpload(opts: { session?: string; signal?: AbortSignal } = {}): Promise<ChunkUpload> {
    const url = new URL('/v1/chunks', await this.base(true));
    let settled = false;
    let failure: Error | null = null;
    let resolveAnswer!: (r: Raw) => void;
    let rejectAnswer!: (e: Error) => void;
    const answer = new Promise<Raw>((res, rej) => {
      resolveAnswer = res;
      rejectAnswer = rej;
    });
    answer.catch(() => undefined);
    const req = https.request(url, {
      method: 'POST',
      agent: this.agent,
      headers: {
        authorization: `Bearer ${this.endpoint.token}`,
        'content-type': 'application/octet-stream',
        ...(opts.session ? { [SESSION_HEADER]: opts.session } : {}),
      },
      timeout: this.timeoutMs,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        settled = true;
        resolveAnswer({ status: res.statusCode ?? 0, body: Buffer.concat(parts) });
      });
      res.on('error', (err) => rejectAnswer(unreachable(url, err)));
    });
    req.on('timeout', () => req.destroy(new Error(`no progress within ${this.timeoutMs} ms`)));
    req.on('error', (err) => {
      // The agent may have answered (e.g. 422, 413) and closed while we were still writing:
      // give its answer a moment to arrive and prefer it over the broken pipe.
      failure = unreachable(url, err);
      const f = failure;
      setTimeout(() => rejectAnswer(f), 1000).unref();
    });
    const early = async (): Promise<never> => {
      const r = await answer;
      throw r.status >= 400
        ? apiError(r)
        : new AgentApiError(502, 'bad_answer', 'chunk upload answered before it was finished', true);
    };
    return {
      write: async (data: Buffer) => {
        if (failure || settled) await early();
        if (!req.write(data)) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              req.off('drain', done);
              req.off('close', done);
              resolve();
            };
            req.on('drain', done);
            req.on('close', done);
          });
        }
      },
      finish: async () => {
        req.end();
        let r: Raw;
        try {
          r = await answer;
        } catch (err) {
          throw err instanceof Error ? err : new Error(String(err));
        }
        if (r.status >= 400) throw apiError(r);
        return JSON.parse(r.body.toString('utf8')) as ReceiveResult;
      },
      abort: (err?: Error) => req.destroy(err),
    };
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

function unreachable(url: URL, err: unknown): AgentUnreachableError {
  const e = err as NodeJS.ErrnoException;
  if (e?.name === 'AbortError')
    return new AgentUnreachableError(`request to ${url.origin} aborted`, { cause: err });
  return new AgentUnreachableError(
    `agent at ${url.origin} unreachable: ${e?.code ?? ''} ${e?.message ?? String(err)}`
      .replace(/\s+/g, ' ')
      .trim(),
    {
      cause: err,
    },
  );
}

function apiError(r: Raw): AgentApiError {
  try {
    const b = JSON.parse(r.body.toString('utf8')) as ErrorBody;
    if (b?.error?.code)
      return new AgentApiError(r.status, b.error.code, b.error.message, b.error.retryable, b.error.details);
  } catch {
    // not JSON: fall through
  }
  return new AgentApiError(
    r.status,
    'http_error',
    `HTTP ${r.status}: ${r.body.toString('utf8').slice(0, 200)}`,
    r.status >= 500,
  );
}
