// How the client talks to an agent: one keep-alive https.Agent per client (trusting the endpoint's
// CA), bearer-token requests to the control port or to the data port (its URL taken from the
// endpoint, else from the port /v1/info advertises), an idle timeout per request, and the mapping
// of error answers and failures to the errors of errors.ts. control.ts and data.ts call through it.
// A data port the agent says is plaintext (AgentInfo.dataScheme "http") is reached over plain
// HTTP with the derived data-port token, and only then: an http data URL for an agent that does
// not say so is refused before anything is sent.
import http from 'node:http';
import https from 'node:https';
import type { AgentInfo } from '../protocol/agent-api.js';
import { dataPortToken } from '../protocol/wire.js';
import type { ErrorBody } from '../errors.js';
import { AgentApiError, AgentUnreachableError } from './errors.js';

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

/** An agent's answer, read whole. */
export interface Raw {
  status: number;
  body: Buffer;
}

export interface RequestOptions {
  method: string;
  path: string;
  data?: boolean;
  body?: Buffer | string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Where and how one port is reached: its origin, the module and keep-alive agent, the token. */
export interface PortTarget {
  origin: string;
  request: typeof https.request;
  agent: http.Agent;
  token: string;
}

export class AgentHttp {
  readonly endpoint: AgentEndpoint;
  readonly agent: https.Agent;
  readonly timeoutMs: number;
  private readonly maxSockets: number;
  private data: PortTarget | undefined;
  private dataAsked: Promise<PortTarget> | undefined;

  constructor(endpoint: AgentEndpoint, opts: ClientOptions = {}) {
    this.endpoint = { ...endpoint, url: endpoint.url.replace(/\/+$/, '') };
    this.timeoutMs = opts.timeoutMs ?? 120_000;
    this.maxSockets = opts.maxSockets ?? 8;
    this.agent = new https.Agent({
      keepAlive: true,
      maxSockets: this.maxSockets,
      ...(endpoint.caCertPem ? { ca: endpoint.caCertPem } : {}),
    });
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
    if (this.data && this.data.agent !== this.agent) this.data.agent.destroy();
  }

  /** The control port, or with `data` the data port. */
  async target(data: boolean): Promise<PortTarget> {
    const control = { request: https.request, agent: this.agent, token: this.endpoint.token };
    if (!data) return { origin: this.endpoint.url, ...control };
    if (this.data) return this.data;
    // One question at a time, so concurrent first calls share one answer (and one http.Agent).
    this.dataAsked ??= this.dataTarget(control).finally(() => (this.dataAsked = undefined));
    return this.dataAsked;
  }

  private async dataTarget(control: Omit<PortTarget, 'origin'>): Promise<PortTarget> {
    const given = this.endpoint.dataUrl?.replace(/\/+$/, '');
    // An https data URL needs no question: every agent's data port speaks TLS.
    if (given && new URL(given).protocol === 'https:') return (this.data = { origin: given, ...control });
    const info = await this.json<AgentInfo>({ method: 'GET', path: '/v1/info' });
    const plain = info.dataScheme === 'http';
    let origin: string;
    if (given) {
      if (!plain)
        throw new AgentApiError(
          400,
          'bad_data_url',
          `dataUrl ${JSON.stringify(given)}: the agent at ${this.endpoint.url} serves its data port over TLS (https); an http data URL is for an agent started with --data-plaintext`,
          false,
        );
      origin = given;
    } else {
      const u = new URL(this.endpoint.url);
      u.protocol = plain ? 'http:' : 'https:';
      u.port = String(info.dataPort);
      origin = u.origin;
    }
    this.data = plain
      ? {
          origin,
          request: http.request,
          agent: new http.Agent({ keepAlive: true, maxSockets: this.maxSockets }),
          token: dataPortToken(this.endpoint.token),
        }
      : { origin, ...control };
    return this.data;
  }

  async request(o: RequestOptions): Promise<Raw> {
    const t = await this.target(o.data ?? false);
    const url = new URL(o.path, t.origin);
    return new Promise<Raw>((resolve, reject) => {
      const req = t.request(
        url,
        {
          method: o.method,
          agent: t.agent,
          headers: {
            authorization: `Bearer ${t.token}`,
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

  async json<T>(o: RequestOptions & { json?: unknown }): Promise<T> {
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
}

export function enc(s: string): string {
  return encodeURIComponent(s);
}

export function unreachable(url: URL, err: unknown): AgentUnreachableError {
  const e = err as NodeJS.ErrnoException;
  if (e?.name === 'AbortError')
    return new AgentUnreachableError(`request to ${url.origin} aborted`, { cause: err });
  // TLS spoken to a port that speaks plain HTTP (a proxy, a wrong port)
  const plainPort =
    url.protocol === 'https:' && /wrong version number/.test(e?.message ?? '')
      ? ` (that port does not speak TLS; if it serves plain HTTP, its URL is http://${url.host})`
      : '';
  return new AgentUnreachableError(
    `agent at ${url.origin} unreachable: ${e?.code ?? ''} ${e?.message ?? String(err)}${plainPort}`
      .replace(/\s+/g, ' ')
      .trim(),
    {
      cause: err,
    },
  );
}

export function apiError(r: Raw): AgentApiError {
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
