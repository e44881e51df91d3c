// The storage agent: one process per cluster owning that cluster's volumes. It serves the control
// API (JSON, default port 9001) and the bulk chunk protocol (default port 9010) over TLS (the data
// port also in plain HTTP with dataPlaintext; wire.ts says when and why), both behind bearer-token
// auth except /healthz, and composes the chunk store, the source-side snapshot and replication
// managers and the destination-side standby manager over one data root:
//
//   <root>/volumes/<handle>/     live volumes (source side)
//   <root>/snapshots/<volume>/   snapshot manifests
//   <root>/standby/<volume>/     restore points and the `current` standby (destination side)
//   <root>/chunks/<hh>/<hash>    the shared content-addressed chunk store
//   <root>/state/                replication records and per-destination replication counts
//   <root>/agent-id              stable identity of this agent
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { AGENT_FEATURES, type AgentInfo } from '../protocol/agent-api.js';
import { dataPortToken } from '../protocol/wire.js';
import { Chunker, DEFAULT_CHUNKER } from '../store/chunker.js';
import { ChunkStore, type Pin } from '../store/chunk-store.js';
import { DEFAULT_HASH, HASHES_AVAILABLE, type HashAlgorithm, isHashAvailable } from '../store/hash.js';
import { AgentError, noSpace } from '../errors.js';
import type { Limits } from '../protocol/limits.js';
import { DEFAULT_LIMITS } from '../protocol/limits.js';
import { ReplicationManager } from '../source/replicate.js';
import { StandbyManager } from '../destination/standby.js';
import { COMMIT_WAIT_WARN_MS } from '../destination/commit-waits.js';
import { SnapshotManager } from '../source/volumes.js';
import { TokenAuth, UNAUTHORIZED_BODY } from './auth.js';
import { AuthFailureLimiter, type AuthLimitOptions } from './auth-limit.js';
import type { AgentContext } from './context.js';
import { drainRequest, sendError } from './http.js';
import type { Logger } from './log.js';
import { silentLogger } from './log.js';
import { agentMetrics, type AgentCounters } from './agent-metrics.js';
import { Metrics } from './metrics.js';
import type { Route } from './routes.js';
import { controlRoutes, dataRoutes, notFoundRoute } from './routes.js';

export const AGENT_VERSION = '0.1.0';

export interface AgentConfig {
  dataRoot: string;
  host: string;
  /** Control port (0 = ephemeral). */
  port: number;
  /** Data port (0 = ephemeral). */
  dataPort: number;
  token: string;
  tlsCert: string | Buffer;
  tlsKey: string | Buffer;
  /**
   * Serve the data port in plain HTTP too, for links already encrypted below (default false):
   * plain HTTP there takes only dataPortToken(token); TLS on the same port keeps the agent's token.
   */
  dataPlaintext?: boolean;
  /** Restore points kept per standby volume unless a replication asks otherwise (default 3). */
  retain?: number;
  /** Snapshots kept per source volume (default 2). */
  snapshotRetain?: number;
  /** fsync chunks, manifests and restore points before publishing them (default false). */
  fsync?: boolean;
  /** Compress chunks where it pays (default true). */
  compress?: boolean;
  /** The hash new volumes' snapshots use (default: BLAKE3 where its native module loads). */
  hash?: HashAlgorithm;
  limits?: Partial<Limits>;
  /** Upload sessions idle this long lose their GC pins (default 10 min). */
  sessionIdleMs?: number;
  /** How long a replication requested with awaitConfirm waits for its confirmation (default 5 min). */
  confirmWindowMs?: number;
  /** Failed-authentication limit (default 10 a minute per token or tokenless address). */
  authLimit?: AuthLimitOptions;
  log?: Logger;
}

export class Agent implements AgentContext {
  readonly metrics = new Metrics();
  readonly limits: Limits;
  readonly log: Logger;
  private readonly sessions = new Map<string, Pin>();
  private readonly authLimiter: AuthFailureLimiter;
  private readonly servers: http.Server[] = [];
  /** Listening sockets that hand each connection to one of `servers` (a plaintext data port's). */
  private readonly fronts: net.Server[] = [];
  /** Their connections not handed over yet (no byte received). */
  private readonly unsorted = new Set<net.Socket>();
  private timer: NodeJS.Timeout | null = null;
  private commitWatch: NodeJS.Timeout | null = null;
  private agentId = '';
  private readonly startedAt = new Date().toISOString();
  port = 0;
  dataPort = 0;
  private readonly count: AgentCounters;

  store!: ChunkStore;
  snapshots!: SnapshotManager;
  standby!: StandbyManager;
  replications!: ReplicationManager;

  private get hash(): HashAlgorithm {
    return this.cfg.hash ?? DEFAULT_HASH;
  }

  private constructor(private readonly cfg: AgentConfig) {
    if (cfg.hash && !isHashAvailable(cfg.hash))
      throw new Error(
        `hash ${JSON.stringify(cfg.hash)}: this agent can compute only ${HASHES_AVAILABLE.join(', ')}`,
      );
    this.limits = { ...DEFAULT_LIMITS, ...cfg.limits };
    this.log = cfg.log ?? silentLogger;
    this.authLimiter = new AuthFailureLimiter(cfg.authLimit);
    this.count = agentMetrics(this.metrics, this);
  }

  static async start(cfg: AgentConfig): Promise<Agent> {
    const a = new Agent(cfg);
    await a.open();
    return a;
  }

  private async open(): Promise<void> {
    const root = this.cfg.dataRoot;
    await fs.promises.mkdir(root, { recursive: true });
    const idFile = path.join(root, 'agent-id');
    try {
      this.agentId = (await fs.promises.readFile(idFile, 'utf8')).trim();
    } catch {
      this.agentId = crypto.randomUUID();
      await fs.promises.writeFile(idFile, `${this.agentId}\n`);
    }
    const fsync = this.cfg.fsync ?? false;
    this.store = await ChunkStore.open(path.join(root, 'chunks'), {
      fsync,
      maxChunkSize: this.limits.maxChunkSize,
    });
    const chunker = new Chunker(DEFAULT_CHUNKER);
    this.snapshots = await SnapshotManager.open(root, this.store, chunker, {
      retain: this.cfg.snapshotRetain ?? 2,
      compress: this.cfg.compress ?? true,
      fsync,
      hash: this.hash,
    });
    this.standby = await StandbyManager.open(root, this.store, {
      fsync,
      retain: this.cfg.retain ?? 3,
      // work done after a commit's answer (releasing what it pruned) fails into the log
      onError: (what, err) => this.log('error', `${what} failed`, { error: (err as Error).message }),
    });
    this.replications = await ReplicationManager.open(root, this.store, this.snapshots, {
      onBytesSent: (n) => this.count.bytesSent(n),
      onChunksSent: (n) => this.count.chunksSent(n),
      log: (msg, fields) => this.log('warn', msg, fields),
      onFinished: (s) =>
        this.log(s.phase === 'succeeded' ? 'info' : 'warn', 'replication finished', {
          id: s.id,
          volume: s.volume,
          destination: s.destination.url,
          phase: s.phase,
          kind: s.kind,
          bytesOnWire: s.bytesOnWire,
          durationMs: s.durationMs,
          ...(s.error ? { error: s.error.message } : {}),
        }),
    });
    if (this.cfg.confirmWindowMs !== undefined) this.replications.confirmWindowMs = this.cfg.confirmWindowMs;
    this.expireSessions();
    this.watchCommits();

    const tls = { cert: this.cfg.tlsCert, key: this.cfg.tlsKey };
    const plain = this.cfg.dataPlaintext ?? false;
    const control = this.server('control', controlRoutes(this), this.cfg.token, tls);
    const dataTls = this.server('data', dataRoutes(this), this.cfg.token, tls);
    const data = plain
      ? this.eitherServer(dataTls, this.server('data', dataRoutes(this), dataPortToken(this.cfg.token), null))
      : dataTls;
    [this.port, this.dataPort] = await Promise.all([
      this.listen(control, this.cfg.port),
      this.listen(data, this.cfg.dataPort),
    ]);
    if (plain)
      this.log('warn', 'the data port serves plaintext HTTP (--data-plaintext)', {
        dataPort: this.dataPort,
        note: 'chunk bytes cross the network unencrypted: use it only on a link encrypted below (WireGuard, IPsec)',
      });
  }

  private expireSessions(): void {
    const idle = this.cfg.sessionIdleMs ?? 600_000;
    this.timer = setInterval(
      () => {
        const cutoff = Date.now() - idle;
        for (const [id, pin] of this.sessions) {
          if (pin.lastUsed < cutoff) {
            this.sessions.delete(id);
            this.store.release(pin);
          }
        }
      },
      Math.min(60_000, idle),
    );
    this.timer.unref();
  }

  /** Logs, every COMMIT_WAIT_WARN_MS, each commit that has waited that long on one thing. */
  private watchCommits(): void {
    this.commitWatch = setInterval(() => {
      for (const c of this.standby.commitsUnderWay())
        if (c.waitedMs >= COMMIT_WAIT_WARN_MS) this.log('warn', 'standby commit waiting', { ...c });
    }, COMMIT_WAIT_WARN_MS);
    this.commitWatch.unref();
  }

  /** A server of `routes` behind `token`, over TLS or (tls null) plain HTTP; not listening yet. */
  private server(
    name: string,
    routes: Route[],
    token: string,
    tls: { cert: string | Buffer; key: string | Buffer } | null,
  ): http.Server {
    const auth = new TokenAuth(token);
    const serve = (req: IncomingMessage, res: ServerResponse): void => {
      res.on('finish', () => this.count.http(1, { server: name, code: String(res.statusCode) }));
      void this.handle(req, res, routes, auth);
    };
    const server = tls
      ? https.createServer({ ...tls, keepAlive: true }, serve)
      : http.createServer({ keepAlive: true }, serve);
    server.keepAliveTimeout = 30_000;
    server.headersTimeout = 60_000;
    server.requestTimeout = 0;
    this.servers.push(server);
    return server;
  }

  /**
   * One port for two servers: a connection whose first byte starts a TLS handshake (0x16) goes to
   * `tlsServer`, any other to `plainServer`. So a plaintext data port still serves sources that
   * speak TLS to it (agents older than --data-plaintext, an https dataUrl), with the agent's
   * token as before, while plain HTTP takes only the derived one.
   */
  private eitherServer(tlsServer: http.Server, plainServer: http.Server): net.Server {
    const front = net.createServer((socket) => {
      this.unsorted.add(socket);
      socket.once('close', () => this.unsorted.delete(socket));
      const silent = (): void => void socket.destroy(); // connected and said nothing
      socket.setTimeout(60_000);
      socket.on('timeout', silent);
      socket.on('error', () => socket.destroy());
      socket.once('data', (first: Buffer) => {
        this.unsorted.delete(socket);
        socket.setTimeout(0);
        socket.off('timeout', silent); // the server it goes to keeps its own timeouts
        socket.pause();
        socket.unshift(first);
        (first[0] === 0x16 ? tlsServer : plainServer).emit('connection', socket);
        process.nextTick(() => socket.resume());
      });
    });
    this.fronts.push(front);
    return front;
  }

  private listen(server: net.Server, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.cfg.host, () => resolve((server.address() as AddressInfo).port));
    });
  }

  private async handle(
    req: IncomingMessage,
    res: ServerResponse,
    routes: Route[],
    auth: TokenAuth,
  ): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://agent');
    try {
      if (url.pathname === '/healthz' && req.method === 'GET') {
        const body = JSON.stringify({ ok: true });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      const source = req.socket.remoteAddress ?? 'unknown';
      const wait = this.authLimiter.retryAfter(req.headers.authorization, source);
      if (wait > 0) {
        this.count.authThrottled();
        await sendError(
          req,
          res,
          new AgentError(
            429,
            'too_many_auth_failures',
            `too many failed authentications from this source; retry after ${wait} s`,
            true,
          ),
          { 'retry-after': String(wait) },
        );
        return;
      }
      if (!auth.check(req.headers.authorization)) {
        this.count.authFailures();
        this.authLimiter.recordFailure(req.headers.authorization, source);
        const drained = await drainRequest(req, 1024 * 1024, 1000);
        res.writeHead(401, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(UNAUTHORIZED_BODY),
          'www-authenticate': 'Bearer',
          ...(drained ? {} : { connection: 'close' }),
        });
        res.end(UNAUTHORIZED_BODY);
        return;
      }
      for (const r of routes) {
        const m = r.method === req.method ? r.pattern.exec(url.pathname) : null;
        if (m) {
          await r.handler({ req, res, params: m.slice(1), query: url.searchParams });
          return;
        }
      }
      throw notFoundRoute(req);
    } catch (err) {
      const e =
        err instanceof AgentError
          ? err
          : (noSpace(err) ??
            new AgentError(
              500,
              'internal',
              `internal error: ${err instanceof Error ? err.message : String(err)}`,
              true,
            ));
      if (e.status >= 500)
        this.log('error', 'request failed', { method: req.method, path: url.pathname, error: e.message });
      await sendError(req, res, e);
    }
  }

  info(): AgentInfo {
    return {
      agentId: this.agentId,
      version: AGENT_VERSION,
      features: [...AGENT_FEATURES],
      port: this.port,
      dataPort: this.dataPort,
      dataScheme: this.cfg.dataPlaintext ? 'http' : 'https',
      dataRoot: this.cfg.dataRoot,
      hash: this.hash,
      hashes: [...HASHES_AVAILABLE],
      chunker: { ...DEFAULT_CHUNKER },
      limits: this.limits,
      retain: this.cfg.retain ?? 3,
      fsync: this.cfg.fsync ?? false,
      compress: this.cfg.compress ?? true,
      startedAt: this.startedAt,
    };
  }

  session(id: string): Pin {
    let p = this.sessions.get(id);
    if (!p) {
      p = this.store.pin();
      this.sessions.set(id, p);
    }
    p.lastUsed = Date.now();
    return p;
  }

  endSession(id: string): void {
    const p = this.sessions.get(id);
    if (p) {
      this.sessions.delete(id);
      this.store.release(p);
    }
  }

  onChunkReceived(storedBytes: number, wasNew: boolean): void {
    this.count.bytesReceived(storedBytes);
    this.count.chunksReceived(1, { result: wasNew ? 'stored' : 'duplicate' });
  }

  /** Stops accepting requests, stops replications, and closes connections. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.commitWatch) clearInterval(this.commitWatch);
    for (const s of this.fronts) s.close();
    for (const s of this.servers) s.close();
    await this.replications.shutdown();
    await this.standby.settled();
    for (const s of this.servers) s.closeAllConnections();
    for (const s of this.unsorted) s.destroy();
  }
}
