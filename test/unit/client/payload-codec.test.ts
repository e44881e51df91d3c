import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import fc from 'fast-check';
import crypto from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  AesGcmCodec,
  CodecError,
  CodecKeyError,
  codecKeysFromEnv,
  ENCRYPTED_ENCODING,
  parseCodecKeys,
  type CodecKey,
} from '../../../client/payload-codec.js';
import { tempDir } from '../../harness/temp-dir.js';

const tmp = tempDir('ferry-codec-');

const key = (id: string): CodecKey => ({ id, key: crypto.randomBytes(32) });
const line = (k: CodecKey) => `${k.id}:${k.key.toString('base64')}`;
const str = (b: Uint8Array | null | undefined) => Buffer.from(b ?? []).toString('utf8');

describe('AesGcmCodec', () => {
  const k1 = key('k1');
  const k2 = key('k2');

  it('round-trips any payload and stores none of its bytes in the clear', async () => {
    const codec = new AesGcmCodec([k1]);
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), fc.uint8Array({ maxLength: 40 })),
        fc.uint8Array({ maxLength: 2000 }),
        async (metadata, data) => {
          const [enc] = await codec.encode([{ metadata, data }]);
          expect(str(enc!.metadata!['encoding'])).toBe(ENCRYPTED_ENCODING);
          expect(str(enc!.metadata!['encryption-key-id'])).toBe('k1');
          if (data.length >= 8) expect(Buffer.from(enc!.data!).includes(Buffer.from(data))).toBe(false);
          const [dec] = await codec.decode([enc!]);
          expect(Buffer.from(dec!.data!)).toEqual(Buffer.from(data));
          expect(Object.keys(dec!.metadata!).sort()).toEqual(Object.keys(metadata).sort());
          for (const [k, v] of Object.entries(metadata))
            expect(Buffer.from(dec!.metadata![k]!)).toEqual(Buffer.from(v));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('hides a JSON payload: no name of the input is in the ciphertext', async () => {
    const p = defaultPayloadConverter.toPayload({ namespace: 'shop-secret-ns', clusterPair: 'remote-pair' });
    const [enc] = await new AesGcmCodec([k1]).encode([p]);
    const raw = Buffer.from(enc!.data!).toString('latin1');
    expect(raw).not.toContain('shop-secret-ns');
    expect(raw).not.toContain('remote-pair');
    expect(str(enc!.metadata!['encoding'])).not.toBe('json/plain');
  });

  it('rotation: the first key encrypts, older ids still decrypt', async () => {
    const [old] = await new AesGcmCodec([k1]).encode([defaultPayloadConverter.toPayload('before')]);
    const rotated = new AesGcmCodec([k2, k1]);
    const [fresh] = await rotated.encode([defaultPayloadConverter.toPayload('after')]);
    expect(str(fresh!.metadata!['encryption-key-id'])).toBe('k2');
    const [a, b] = await rotated.decode([old!, fresh!]);
    expect(defaultPayloadConverter.fromPayload(a!)).toBe('before');
    expect(defaultPayloadConverter.fromPayload(b!)).toBe('after');
  });

  it('a payload under an unknown key id fails, naming the id and the configured ones', async () => {
    const [enc] = await new AesGcmCodec([k2]).encode([defaultPayloadConverter.toPayload('x')]);
    await expect(new AesGcmCodec([k1]).decode([enc!])).rejects.toThrow(
      new CodecError(
        'payload encrypted with key id "k2", which is not among the configured keys (k1): add it to FERRY_CODEC_KEYS_FILE',
      ),
    );
  });

  it('other key material under the same id, or altered bytes, fail the tag check', async () => {
    const [enc] = await new AesGcmCodec([k1]).encode([defaultPayloadConverter.toPayload('x')]);
    await expect(new AesGcmCodec([key('k1')]).decode([enc!])).rejects.toThrow(
      /key id "k1" failed to decrypt/,
    );
    const altered: Payload = { ...enc!, data: Buffer.from(enc!.data!).fill(7, 20, 21) };
    await expect(new AesGcmCodec([k1]).decode([altered])).rejects.toThrow(/failed to decrypt/);
    // The key id is authenticated: relabelled as k2, even under the same key bytes, it is refused.
    const relabelled: Payload = {
      ...enc!,
      metadata: { ...enc!.metadata, 'encryption-key-id': Buffer.from('k2') },
    };
    await expect(new AesGcmCodec([{ id: 'k2', key: k1.key }, k1]).decode([relabelled])).rejects.toThrow(
      /key id "k2" failed to decrypt/,
    );
  });

  it('passes payloads that were never encrypted through unchanged', async () => {
    const plain = defaultPayloadConverter.toPayload({ a: 1 });
    const [out] = await new AesGcmCodec([k1]).decode([plain]);
    expect(out).toBe(plain);
  });
});

describe('codec keys', () => {
  const good = key('k1');
  it.each([
    ['k1', /entry 1: expected id:base64key, got no ":"/],
    ['bad id!:AAAA', /entry 1: key id "bad id!" must match/],
    ['k1:not*base64', /entry 1: key "k1" is not base64/],
    [`k1:${crypto.randomBytes(16).toString('base64')}`, /key "k1" is 16 bytes; AES-256 needs 32/],
    [`${line(good)}\n${line(good)}`, /entry 2: key id "k1" repeats/],
    ['# only a comment\n\n', /no keys/],
  ])('refuses %j', (text, message) => {
    expect(() => parseCodecKeys(text, 'keys.txt')).toThrow(CodecKeyError);
    expect(() => parseCodecKeys(text, 'keys.txt')).toThrow(message);
  });

  it('reads lines with comments, and comma-separated entries, in order', () => {
    const k2 = key('k2');
    const keys = parseCodecKeys(`# newest first\n${line(k2)}\n\n${line(good)}  # old\n`, 'f');
    expect(keys.map((k) => k.id)).toEqual(['k2', 'k1']);
    expect(keys[0]!.key).toEqual(k2.key);
    expect(parseCodecKeys(`${line(k2)},${line(good)}`, 'env').map((k) => k.id)).toEqual(['k2', 'k1']);
  });

  it('is off without configuration, reads the file or the variable, and refuses both', async () => {
    expect(await codecKeysFromEnv({})).toBeUndefined();
    const file = path.join(tmp, 'keys');
    writeFileSync(file, `${line(good)}\n`);
    expect((await codecKeysFromEnv({ FERRY_CODEC_KEYS_FILE: file }))?.map((k) => k.id)).toEqual(['k1']);
    expect((await codecKeysFromEnv({ FERRY_CODEC_KEYS: line(good) }))?.map((k) => k.id)).toEqual(['k1']);
    await expect(
      codecKeysFromEnv({ FERRY_CODEC_KEYS_FILE: file, FERRY_CODEC_KEYS: line(good) }),
    ).rejects.toThrow('set FERRY_CODEC_KEYS_FILE or FERRY_CODEC_KEYS, not both');
    await expect(codecKeysFromEnv({ FERRY_CODEC_KEYS_FILE: `${file}.missing` })).rejects.toThrow(
      `FERRY_CODEC_KEYS_FILE ${file}.missing: ENOENT`,
    );
  });
});
