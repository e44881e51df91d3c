// HTTP helpers for the agent's servers: bounded body reading, JSON answers, error answers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { AgentError, badRequest, errorBody, tooLarge } from '../errors.js';

const brotliDecompress = promisify(zlib.brotliDecompress);
const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);

export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit)
    return Promise.reject(tooLarge(`request body of ${declared} bytes exceeds the limit of ${limit}`));
  // Not `for await`: leaving such a loop early destroys the socket, and the error answer with it.
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    let over = false;
    req.on('data', (piece: Buffer) => {
      if (over) return;
      n += piece.length;
      if (n > limit) {
        over = true;
        reject(tooLarge(`request body exceeds the limit of ${limit} bytes`));
        return;
      }
      parts.push(piece);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(parts));
    });
    req.on('error', reject);
  });
}

/** Reads a body honouring Content-Encoding (br, gzip, deflate), bounding the decoded size. */
export async function readDecodedBody(
  req: IncomingMessage,
  wireLimit: number,
  decodedLimit: number,
): Promise<Buffer> {
  const body = await readBody(req, wireLimit);
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  const opts = { maxOutputLength: decodedLimit };
  try {
    switch (encoding) {
      case 'identity':
        if (body.length > decodedLimit)
          throw tooLarge(`request body exceeds the limit of ${decodedLimit} bytes`);
        return body;
      case 'br':
        return await brotliDecompress(body, opts);
      case 'gzip':
        return await gunzip(body, opts);
      case 'deflate':
        return await inflate(body, opts);
      default:
        throw badRequest(`unsupported Content-Encoding ${JSON.stringify(encoding)}`);
    }
  } catch (err) {
    if (err instanceof AgentError) throw err;
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
      throw tooLarge(`decoded request body exceeds the limit of ${decodedLimit} bytes`);
    throw badRequest(`request body is not valid ${encoding} data`);
  }
}

/** A JSON object request body (an empty body is `{}`); anything else is a 400 naming it. */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const body = await readBody(req, limit);
  if (body.length === 0) return {};
  const value = parseJson(body);
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw badRequest(
      `request body: must be a JSON object, not ${value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value}`,
    );
  return value;
}

export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw badRequest(`request body is not valid JSON: ${(err as Error).message}`);
  }
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = value === undefined ? '' : JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export async function sendError(
  req: IncomingMessage,
  res: ServerResponse,
  err: AgentError,
  headers: Record<string, string> = {},
): Promise<void> {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(err));
  const drained = await drainRequest(req);
  res.writeHead(err.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...headers,
    ...(drained ? {} : { connection: 'close' }),
  });
  res.end(body);
}

/**
 * Before answering a request early (an error found mid-body), read and discard what the client is
 * still sending — at most 64 MiB or 2 s — so the answer is not lost to a connection reset and the
 * connection stays reusable. Resolves true when the body was read to its end.
 */
export function drainRequest(
  req: IncomingMessage,
  maxBytes = 64 * 1024 * 1024,
  maxMs = 2000,
): Promise<boolean> {
  if (req.complete || req.readableEnded) return Promise.resolve(true);
  return new Promise((resolve) => {
    let n = 0;
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onEnd);
      if (!ok) req.pause();
      resolve(ok);
    };
    const onData = (d: Buffer): void => {
      n += d.length;
      if (n > maxBytes) done(false);
    };
    const onEnd = (): void => done(req.complete);
    const timer = setTimeout(() => done(false), maxMs);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onEnd);
    req.resume();
  });
}
