// `ferry codec-server`: Temporal's codec server protocol over Ferry's payload codec, so the Web UI
// (and `temporal workflow show --codec-endpoint`) can show an operator the payloads Ferry stores
// encrypted. Keys come from FERRY_CODEC_KEYS_FILE or FERRY_CODEC_KEYS, as for the worker.
//
//   FERRY_CODEC_KEYS_FILE=keys ferry codec-server --listen 127.0.0.1:8081 --ui-origin http://127.0.0.1:8233
//   temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8081
//
// POST /decode and /encode (also /<namespace>/decode and /<namespace>/encode) take and answer
// {"payloads":[{"metadata":{"encoding":"<base64>"},"data":"<base64>"}]} (proto3 JSON: bytes are
// base64). CORS answers only the --ui-origin origins; a browser request from any other origin is
// refused with 403. With --token-file, every request needs `Authorization: Bearer <token>`.
// It decrypts for whoever can reach it: keep it on loopback or behind authentication.
import type { Payload } from '@temporalio/common';
import { readFile } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { flagValue, formatFlags, parseArgs, UsageError, type FlagSpec } from '../client/cli/args.js';
import { AesGcmCodec, CodecError, codecKeysFromEnv, type CodecKey } from '../client/payload-codec.js';
import { TokenAuth } from '../datapath/agent/auth.js';

const MAX_BODY = 32 * 1024 * 1024;

const FLAGS: FlagSpec[] = [
  {
    name: 'listen',
    value: 'HOST:PORT',
    help: 'Where to listen (default 127.0.0.1:8081; port 0 picks one).',
  },
  {
    name: 'ui-origin',
    value: 'URL',
    repeatable: true,
    help: 'Origin of the Temporal Web UI allowed by CORS (repeatable; default http://localhost:8233 and http://127.0.0.1:8233).',
  },
  { name: 'token-file', value: 'FILE', help: 'Require `Authorization: Bearer <token>` with this token.' },
];

export const CODEC_SERVER_USAGE = `usage: ferry codec-server [flags]\n\nKeys: FERRY_CODEC_KEYS_FILE or FERRY_CODEC_KEYS (id:base64key lines).\n\n${formatFlags(FLAGS)}`;

export interface CodecServerOptions {
  keys: CodecKey[];
  host?: string;
  port?: number;
  /** Origins answered with CORS headers; default the dev server's UI on 8233. */
  origins?: string[];
  token?: string;
}

export interface CodecServer {
  url: string;
  close(): Promise<void>;
}

class BadRequest extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const DEFAULT_ORIGINS = ['http://localhost:8233', 'http://127.0.0.1:8233'];

function fromBase64(value: unknown, field: string): Uint8Array {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value))
    throw new BadRequest(`${field}: expected a base64 string, got ${JSON.stringify(value)?.slice(0, 60)}`);
  return Buffer.from(value, 'base64');
}

/** Parses the protocol's JSON body into payloads; every problem names the field. */
export function parsePayloadsJson(body: unknown): Payload[] {
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { payloads?: unknown }).payloads))
    throw new BadRequest('payloads: expected {"payloads": [...]}');
  return (body as { payloads: unknown[] }).payloads.map((p, i) => {
    const at = `payloads[${i}]`;
    if (typeof p !== 'object' || p === null || Array.isArray(p))
      throw new BadRequest(`${at}: expected an object`);
    const { metadata = {}, data = '' } = p as { metadata?: unknown; data?: unknown };
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
      throw new BadRequest(`${at}.metadata: expected an object of base64 strings`);
    return {
      metadata: Object.fromEntries(
        Object.entries(metadata).map(([k, v]) => [k, fromBase64(v, `${at}.metadata.${k}`)]),
      ),
      data: fromBase64(data, `${at}.data`),
    };
  });
}

export function payloadsJson(payloads: Payload[]): { payloads: unknown[] } {
  const b64 = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('base64');
  return {
    payloads: payloads.map((p) => ({
      metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, b64(v)])),
      data: b64(p.data),
    })),
  };
}

function readJsonBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    req.on('data', (d: Buffer) => {
      n += d.length;
      if (n > MAX_BODY) {
        reject(new BadRequest(`request body exceeds ${MAX_BODY} bytes`, 413));
        req.destroy();
      } else parts.push(d);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(parts).toString('utf8')));
      } catch (err) {
        reject(new BadRequest(`request body is not JSON: ${(err as Error).message}`));
      }
    });
    req.on('error', reject);
  });
}

/** The request handler, for a server of its own or a route on another process's HTTP port. */
export function codecHandler(opts: CodecServerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const codec = new AesGcmCodec(opts.keys);
  const origins = new Set(opts.origins ?? DEFAULT_ORIGINS);
  const auth = opts.token ? new TokenAuth(opts.token) : undefined;
  const send = (res: ServerResponse, status: number, value: unknown) => {
    const body = JSON.stringify(value);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  return (req, res) => {
    const origin = req.headers.origin;
    if (origin !== undefined) {
      if (!origins.has(origin)) {
        send(res, 403, { error: `origin ${JSON.stringify(origin)} is not allowed (--ui-origin)` });
        return;
      }
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('access-control-allow-credentials', 'true');
      res.setHeader('access-control-allow-methods', 'POST, OPTIONS');
      res.setHeader('access-control-allow-headers', 'content-type, x-namespace, authorization');
      res.setHeader('vary', 'Origin');
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204).end();
      return;
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const op = /^(?:\/[^/]+)?\/(decode|encode)$/.exec(path)?.[1];
    if (!op) {
      send(res, 404, { error: `no route for ${path}: POST /decode or /encode` });
      return;
    }
    if (req.method !== 'POST') {
      send(res, 405, { error: `${req.method} ${path}: use POST` });
      return;
    }
    if (auth && !auth.check(req.headers.authorization)) {
      send(res, 401, { error: 'unauthorized' });
      return;
    }
    void readJsonBody(req)
      .then(async (body) => {
        const payloads = parsePayloadsJson(body);
        const out = op === 'decode' ? await codec.decode(payloads) : await codec.encode(payloads);
        send(res, 200, payloadsJson(out));
      })
      .catch((err: unknown) => {
        if (err instanceof BadRequest) send(res, err.status, { error: err.message });
        else if (err instanceof CodecError) send(res, 422, { error: err.message });
        else send(res, 500, { error: (err as Error).message });
      });
  };
}

export async function startCodecServer(opts: CodecServerOptions): Promise<CodecServer> {
  const server = http.createServer(codecHandler(opts));
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8081, host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export async function codecServerMain(argv: string[]): Promise<number> {
  let opts: CodecServerOptions;
  try {
    const args = parseArgs(argv, FLAGS);
    if (args.help) {
      process.stdout.write(`${CODEC_SERVER_USAGE}\n`);
      return 0;
    }
    if (args.positionals.length > 0)
      throw new UsageError(`unexpected argument ${JSON.stringify(args.positionals[0])}`);
    const listen = flagValue(args, 'listen') ?? '127.0.0.1:8081';
    const colon = listen.lastIndexOf(':');
    const port = Number(listen.slice(colon + 1));
    if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65535)
      throw new UsageError(`--listen ${JSON.stringify(listen)}: expected HOST:PORT with a port in 0..65535`);
    const keys = await codecKeysFromEnv();
    if (!keys)
      throw new UsageError('no keys: set FERRY_CODEC_KEYS_FILE (id:base64key lines) or FERRY_CODEC_KEYS');
    const tokenFile = flagValue(args, 'token-file');
    let token: string | undefined;
    if (tokenFile) {
      token = (
        await readFile(tokenFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
          throw new UsageError(`--token-file ${tokenFile}: ${err.code ?? err.message}`);
        })
      ).trim();
      if (!token) throw new UsageError(`--token-file ${tokenFile}: the file is empty`);
    }
    const origins = args.flags.get('ui-origin');
    for (const o of origins ?? [])
      if (!/^https?:\/\/[^/]+$/.test(o))
        throw new UsageError(
          `--ui-origin ${JSON.stringify(o)}: expected an origin like http://127.0.0.1:8233`,
        );
    opts = {
      keys,
      host: listen.slice(0, colon).replace(/^\[|\]$/g, ''),
      port,
      ...(origins ? { origins } : {}),
      ...(token ? { token } : {}),
    };
  } catch (err) {
    process.stderr.write(`ferry codec-server: ${(err as Error).message}\n`);
    return 1;
  }
  const server = await startCodecServer(opts);
  process.stdout.write(`${JSON.stringify({ ready: true, url: server.url, keyId: opts.keys[0]?.id })}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await server.close();
  return 0;
}
