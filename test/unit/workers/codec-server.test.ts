// The codec server on loopback: Temporal's JSON payload protocol, CORS for the UI's origin only,
// clear 4xx answers for bad bodies and unknown key ids.
import { defaultPayloadConverter } from '@temporalio/common';
import crypto from 'node:crypto';
import { AesGcmCodec } from '../../../client/payload-codec.js';
import { payloadsJson, startCodecServer, type CodecServer } from '../../../workers/codec-server.js';

const k1 = { id: 'k1', key: crypto.randomBytes(32) };
const k0 = { id: 'k0', key: crypto.randomBytes(32) };
const UI = 'http://127.0.0.1:8233';
let server: CodecServer;

beforeAll(async () => {
  server = await startCodecServer({ keys: [k1, k0], port: 0, origins: [UI], token: 'tok' });
});
afterAll(() => server.close());

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer tok', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

it('decodes what the worker encrypted (current and rotated-out keys) and encodes for the UI', async () => {
  const fromOld = await new AesGcmCodec([k0]).encode([defaultPayloadConverter.toPayload({ pair: 'remote' })]);
  const res = await post('/default/decode', payloadsJson(fromOld), { 'x-namespace': 'default', origin: UI });
  expect(res.status).toBe(200);
  expect(res.headers.get('access-control-allow-origin')).toBe(UI);
  const body = (await res.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> };
  expect(Buffer.from(body.payloads[0]!.metadata['encoding']!, 'base64').toString()).toBe('json/plain');
  expect(JSON.parse(Buffer.from(body.payloads[0]!.data, 'base64').toString())).toEqual({ pair: 'remote' });

  const enc = await post('/encode', body);
  const encoded = (await enc.json()) as { payloads: Array<{ metadata: Record<string, string> }> };
  expect(Buffer.from(encoded.payloads[0]!.metadata['encryption-key-id']!, 'base64').toString()).toBe('k1');
});

it('answers the UI preflight for its origin only, and refuses other origins', async () => {
  const pre = await fetch(`${server.url}/decode`, {
    method: 'OPTIONS',
    headers: { origin: UI, 'access-control-request-method': 'POST' },
  });
  expect(pre.status).toBe(204);
  expect(pre.headers.get('access-control-allow-headers')).toContain('x-namespace');
  expect(pre.headers.get('access-control-allow-credentials')).toBe('true');
  const evil = await post('/decode', { payloads: [] }, { origin: 'http://evil.example' });
  expect(evil.status).toBe(403);
  expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  expect(((await evil.json()) as { error: string }).error).toContain(
    'origin "http://evil.example" is not allowed',
  );
});

it.each([
  ['not json', 400, 'request body is not JSON'],
  [{ nope: 1 }, 400, 'payloads: expected {"payloads": [...]}'],
  [{ payloads: [7] }, 400, 'payloads[0]: expected an object'],
  [
    { payloads: [{ metadata: { encoding: '!!' } }] },
    400,
    'payloads[0].metadata.encoding: expected a base64 string',
  ],
  [{ payloads: [{ data: 5 }] }, 400, 'payloads[0].data: expected a base64 string'],
])('refuses %j with %i naming the field', async (body, status, message) => {
  const res = await post('/decode', body);
  expect(res.status).toBe(status);
  expect(((await res.json()) as { error: string }).error).toContain(message);
});

it('refuses a payload of an unknown key id with 422 naming it, a missing token with 401, other paths 404/405', async () => {
  const foreign = await new AesGcmCodec([{ id: 'k9', key: crypto.randomBytes(32) }]).encode([
    defaultPayloadConverter.toPayload('x'),
  ]);
  const res = await post('/decode', payloadsJson(foreign));
  expect(res.status).toBe(422);
  expect(((await res.json()) as { error: string }).error).toBe(
    'payload encrypted with key id "k9", which is not among the configured keys (k1, k0): add it to FERRY_CODEC_KEYS_FILE',
  );
  expect((await post('/decode', { payloads: [] }, { authorization: 'Bearer wrong' })).status).toBe(401);
  expect((await post('/other', { payloads: [] })).status).toBe(404);
  expect((await fetch(`${server.url}/decode`)).status).toBe(405);
});
