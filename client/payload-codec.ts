// Ferry's payload codec: AES-256-GCM over every payload Ferry's clients and workers send to
// Temporal, so workflow inputs, results, queries, summaries and details are stored as ciphertext.
// It is on only when keys are configured:
//
//   FERRY_CODEC_KEYS_FILE=/etc/ferry/codec-keys   a file of `id:base64key` lines (32-byte keys)
//   FERRY_CODEC_KEYS='k2:BASE64,k1:BASE64'        the same lines inline (comma or newline separated)
//
// The first key encrypts; every listed key decrypts, chosen by the key id each payload carries,
// so rotating is: put the new key first, keep the old ones until their histories are gone.
// An encrypted payload is
//   metadata  encoding: binary/encrypted, encryption-key-id: <id>, encryption-cipher: AES-256-GCM
//   data      12-byte nonce ‖ ciphertext ‖ 16-byte tag, of the original Payload's protobuf bytes,
//             with the key id as additional authenticated data (a payload cannot change key ids)
// Payloads that are not encrypted pass through decode unchanged (histories from before the codec
// was turned on stay readable); an unknown key id or a failed tag check is a CodecError naming it.
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';
import crypto from 'node:crypto';
import { readFile } from 'node:fs/promises';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const CIPHER_METADATA = 'encryption-cipher';
const CIPHER = 'AES-256-GCM';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
// @temporalio/proto is CommonJS: Node's ESM loader sees only its default export.
const PayloadProto = proto.temporal.api.common.v1.Payload;

export const CODEC_KEYS_FILE_ENV = 'FERRY_CODEC_KEYS_FILE';
export const CODEC_KEYS_ENV = 'FERRY_CODEC_KEYS';

export interface CodecKey {
  id: string;
  /** 32 bytes. */
  key: Buffer;
}

/** A key list that cannot be used; the message names the source, the line and the field. */
export class CodecKeyError extends Error {
  override name = 'CodecKeyError';
}

/** A payload that cannot be decrypted with the configured keys. */
export class CodecError extends Error {
  override name = 'CodecError';
}

/**
 * Parses `id:base64key` entries (one a line or comma separated; blank lines and `#` comments
 * ignored). `source` names where they came from in errors.
 */
export function parseCodecKeys(text: string, source: string): CodecKey[] {
  const keys: CodecKey[] = [];
  const entries = text.split(/[\n,]/);
  entries.forEach((raw, i) => {
    const entry = raw.replace(/#.*$/, '').trim();
    if (entry === '') return;
    const where = `${source} entry ${i + 1}`;
    const colon = entry.indexOf(':');
    if (colon < 0) throw new CodecKeyError(`${where}: expected id:base64key, got no ":"`);
    const id = entry.slice(0, colon).trim();
    const b64 = entry.slice(colon + 1).trim();
    if (!KEY_ID.test(id))
      throw new CodecKeyError(`${where}: key id ${JSON.stringify(id)} must match ${KEY_ID.source}`);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0)
      throw new CodecKeyError(`${where}: key ${JSON.stringify(id)} is not base64`);
    const key = Buffer.from(b64, 'base64');
    if (key.length !== 32)
      throw new CodecKeyError(
        `${where}: key ${JSON.stringify(id)} is ${key.length} bytes; AES-256 needs 32 (openssl rand -base64 32)`,
      );
    if (keys.some((k) => k.id === id))
      throw new CodecKeyError(`${where}: key id ${JSON.stringify(id)} repeats`);
    keys.push({ id, key });
  });
  if (keys.length === 0) throw new CodecKeyError(`${source}: no keys (expected id:base64key lines)`);
  return keys;
}

/**
 * The keys configured in the environment (FERRY_CODEC_KEYS_FILE or FERRY_CODEC_KEYS), or
 * undefined when neither is set: the codec is then off.
 */
export async function codecKeysFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): Promise<CodecKey[] | undefined> {
  const file = env[CODEC_KEYS_FILE_ENV];
  const inline = env[CODEC_KEYS_ENV];
  if (file && inline) throw new CodecKeyError(`set ${CODEC_KEYS_FILE_ENV} or ${CODEC_KEYS_ENV}, not both`);
  if (inline) return parseCodecKeys(inline, CODEC_KEYS_ENV);
  if (!file) return undefined;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CodecKeyError(
      `${CODEC_KEYS_FILE_ENV} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  return parseCodecKeys(text, `${CODEC_KEYS_FILE_ENV} ${file}`);
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : undefined);

export class AesGcmCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;
  private readonly current: CodecKey;

  constructor(keys: CodecKey[]) {
    if (keys.length === 0) throw new CodecKeyError('the codec needs at least one key');
    this.current = keys[0] as CodecKey;
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  /** The id of the key that encrypts. */
  get keyId(): string {
    return this.current.id;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.encrypt(p));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.decrypt(p));
  }

  encrypt(payload: Payload): Payload {
    const plain = PayloadProto.encode(payload).finish();
    const nonce = crypto.randomBytes(NONCE_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.current.key, nonce);
    cipher.setAAD(Buffer.from(this.current.id, 'utf8'));
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: utf8(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: utf8(this.current.id),
        [CIPHER_METADATA]: utf8(CIPHER),
      },
      data: Buffer.concat([nonce, body, cipher.getAuthTag()]),
    };
  }

  decrypt(payload: Payload): Payload {
    if (text(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) return payload;
    const id = text(payload.metadata?.[KEY_ID_METADATA]);
    if (id === undefined) throw new CodecError(`encrypted payload without ${KEY_ID_METADATA} metadata`);
    const key = this.byId.get(id);
    if (!key)
      throw new CodecError(
        `payload encrypted with key id ${JSON.stringify(id)}, which is not among the configured keys (${[...this.byId.keys()].join(', ')}): add it to ${CODEC_KEYS_FILE_ENV}`,
      );
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < NONCE_BYTES + TAG_BYTES)
      throw new CodecError(`payload with key id ${JSON.stringify(id)}: ${data.length} bytes is too short`);
    const decipher = crypto.createDecipheriv('aes-256-gcm', key, data.subarray(0, NONCE_BYTES));
    decipher.setAAD(Buffer.from(id, 'utf8'));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([
        decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch {
      throw new CodecError(
        `payload with key id ${JSON.stringify(id)} failed to decrypt: the key under that id is not the one that encrypted it, or the payload was altered`,
      );
    }
    const decoded = PayloadProto.decode(plain);
    return { metadata: decoded.metadata ?? {}, data: decoded.data ?? new Uint8Array() };
  }
}

/** The data converter of every Temporal client and worker Ferry makes: the codec when keys are set. */
export function ferryDataConverter(
  keys: CodecKey[] | undefined,
): { payloadCodecs: PayloadCodec[] } | undefined {
  return keys ? { payloadCodecs: [new AesGcmCodec(keys)] } : undefined;
}
