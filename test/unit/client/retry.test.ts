import { retryTooManyRequests } from '../../../client/cluster.js';

const tooMany = Object.assign(new Error('429'), { code: 429, headers: { 'retry-after': '0.01' } });

describe('retryTooManyRequests', () => {
  it('retries 429s until the call succeeds, and returns its value', async () => {
    let calls = 0;
    const value = await retryTooManyRequests(async () => {
      calls++;
      if (calls < 3) throw tooMany;
      return 'ok';
    });
    expect({ value, calls }).toEqual({ value: 'ok', calls: 3 });
  });

  it('gives up after the given number of attempts with the last error', async () => {
    let calls = 0;
    await expect(
      retryTooManyRequests(async () => {
        calls++;
        throw tooMany;
      }, 4),
    ).rejects.toBe(tooMany);
    expect(calls).toBe(4);
  });

  it('does not retry other failures', async () => {
    let calls = 0;
    const notFound = Object.assign(new Error('404'), { code: 404 });
    await expect(
      retryTooManyRequests(async () => {
        calls++;
        throw notFound;
      }),
    ).rejects.toBe(notFound);
    expect(calls).toBe(1);
  });
});
