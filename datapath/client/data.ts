// The client's calls to an agent's data port: which chunks the agent holds (hasChunks) and the
// streaming chunk upload (openChunkUpload, a body of wire.ts frames written with backpressure).
// A source agent uses them to push chunks to a destination agent (push.ts).
import type { ReceiveResult } from '../destination/receive.js';
import type { HashAlgorithm } from '../store/hash.js';
import { HASH_HEADER, SESSION_HEADER } from '../protocol/wire.js';
import { AgentApiError } from './errors.js';
import { apiError, unreachable, type AgentHttp, type Raw } from './http.js';

/** A chunk upload in progress (one POST /v1/chunks). */
export interface ChunkUpload {
  /**
   * Writes bytes, resolving once the stream accepts more (backpressure). `flushed` is called once
   * the connection no longer needs `data` (handed to TLS and the socket), so the caller may reuse
   * it; never when the write fails.
   */
  write(data: Buffer, flushed?: () => void): Promise<void>;
  /** Ends the body and returns the destination's answer. */
  finish(): Promise<ReceiveResult>;
  abort(err?: Error): void;
}

export class AgentData {
  constructor(private readonly http: AgentHttp) {}

  /** Which of `hashes` (32-byte chunk names) the agent holds; with `verify`, re-hashed first. */
  async hasChunks(
    hashes: Buffer[],
    opts: { verify?: boolean; session?: string; signal?: AbortSignal } = {},
  ): Promise<boolean[]> {
    const r = await this.http.request({
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

  /** Opens a streaming chunk upload (frames of wire.ts) of chunks named by `hash`. */
  async openChunkUpload(
    opts: { session?: string; hash?: HashAlgorithm; signal?: AbortSignal } = {},
  ): Promise<ChunkUpload> {
    const t = await this.http.target(true);
    const url = new URL('/v1/chunks', t.origin);
    let settled = false;
    let failure: Error | null = null;
    let resolveAnswer!: (r: Raw) => void;
    let rejectAnswer!: (e: Error) => void;
    const answer = new Promise<Raw>((res, rej) => {
      resolveAnswer = res;
      rejectAnswer = rej;
    });
    answer.catch(() => undefined);
    const req = t.request(url, {
      method: 'POST',
      agent: t.agent,
      headers: {
        authorization: `Bearer ${t.token}`,
        'content-type': 'application/octet-stream',
        ...(opts.session ? { [SESSION_HEADER]: opts.session } : {}),
        ...(opts.hash ? { [HASH_HEADER]: opts.hash } : {}),
      },
      timeout: this.http.timeoutMs,
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
    req.on('timeout', () => req.destroy(new Error(`no progress within ${this.http.timeoutMs} ms`)));
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
      write: async (data: Buffer, flushed?: () => void) => {
        if (failure || settled) await early();
        const accepted = flushed
          ? req.write(data, (err) => {
              if (!err) flushed();
            })
          : req.write(data);
        if (!accepted) {
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
