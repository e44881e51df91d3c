// Chunk names: both algorithms give the published test vectors, and a name is recognised under
// whichever algorithm produced it, whatever the caller expected, and never under the wrong bytes.
import crypto from 'node:crypto';
import fc from 'fast-check';
import {
  DEFAULT_HASH,
  HASHES_AVAILABLE,
  hashBytes,
  hashHex,
  isHashAlgorithm,
  nameMatches,
} from '../../../datapath/store/hash.js';

describe('chunk hashes', () => {
  it.each([
    ['sha256', '', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['sha256', 'abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    ['blake3', '', 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262'],
    ['blake3', 'abc', '6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85'],
  ] as const)('%s(%j) is the published vector', (alg, input, hex) => {
    expect(hashHex(Buffer.from(input), alg)).toBe(hex);
    expect(hashBytes(Buffer.from(input), alg).toString('hex')).toBe(hex);
  });

  it('both algorithms are available here, BLAKE3 the default for new volumes', () => {
    expect([...HASHES_AVAILABLE].sort()).toEqual(['blake3', 'sha256']);
    expect(DEFAULT_HASH).toBe('blake3');
    expect(['sha256', 'blake3', 'md5', 'SHA256', undefined].map(isHashAlgorithm)).toEqual([
      true,
      true,
      false,
      false,
      false,
    ]);
  });

  it('hashes a view of a SharedArrayBuffer like a copy of its bytes', () => {
    const sab = Buffer.from(new SharedArrayBuffer(4096));
    crypto.randomFillSync(sab);
    const view = sab.subarray(100, 3000);
    expect(hashHex(view, 'blake3')).toBe(hashHex(Buffer.from(view), 'blake3'));
  });

  it('nameMatches finds the algorithm that named the bytes, and nothing for other bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 5000 }),
        fc.constantFrom('sha256' as const, 'blake3' as const),
        fc.constantFrom('sha256' as const, 'blake3' as const),
        (data, named, expected) => {
          const hex = hashHex(data, named);
          expect(nameMatches(data, hex, expected)).toBe(named);
          const other = Buffer.concat([Buffer.from(data), Buffer.from([1])]);
          expect(nameMatches(other, hex, expected)).toBeNull();
        },
      ),
      { numRuns: 200 },
    );
  });
});
