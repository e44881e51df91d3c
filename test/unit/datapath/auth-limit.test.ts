import { AuthFailureLimiter } from '../../../datapath/agent/auth-limit.js';

function limiter() {
  let t = 1_000_000;
  const l = new AuthFailureLimiter({ maxFailures: 3, windowMs: 60_000, maxSources: 50, now: () => t });
  return { l, tick: (ms: number) => (t += ms) };
}

it('refuses a token after maxFailures in the window, until the oldest failure leaves it', () => {
  const { l, tick } = limiter();
  const bad = 'Bearer wrong';
  for (let i = 0; i < 3; i++) {
    expect(l.retryAfter(bad, '10.0.0.1')).toBe(0);
    l.recordFailure(bad, '10.0.0.1');
    tick(10_000);
  }
  // Failures at 0, 10 and 20 s; now 30 s: the first leaves the window at 60 s.
  expect(l.retryAfter(bad, '10.0.0.1')).toBe(30);
  expect(l.retryAfter(bad, '10.0.0.2')).toBe(30); // the token, wherever it comes from
  expect(l.retryAfter('Bearer other', '10.0.0.1')).toBe(0); // another token is its own source
  expect(l.retryAfter(undefined, '10.0.0.1')).toBe(0);
  tick(29_500);
  expect(l.retryAfter(bad, '10.0.0.1')).toBe(1);
  tick(500);
  expect(l.retryAfter(bad, '10.0.0.1')).toBe(0);
});

it('counts requests without a token by client address', () => {
  const { l } = limiter();
  for (let i = 0; i < 3; i++) l.recordFailure(undefined, '10.0.0.9');
  expect(l.retryAfter(undefined, '10.0.0.9')).toBe(60);
  expect(l.retryAfter('Basic xyz', '10.0.0.9')).toBe(0); // another credential is its own source
  expect(l.retryAfter(undefined, '10.0.0.8')).toBe(0);
});

it('refuses an address trying many different tokens after 10 × maxFailures', () => {
  const { l } = limiter();
  for (let i = 0; i < 29; i++) l.recordFailure(`Bearer guess-${i}`, '10.0.0.7');
  expect(l.retryAfter('Bearer guess-new', '10.0.0.7')).toBe(0);
  l.recordFailure('Bearer guess-29', '10.0.0.7');
  expect(l.retryAfter('Bearer guess-new', '10.0.0.7')).toBe(60);
  expect(l.retryAfter('Bearer guess-new', '10.0.0.6')).toBe(0);
});

it('remembers a bounded number of sources', () => {
  const { l } = limiter();
  for (let i = 0; i < 500; i++) l.recordFailure(`Bearer t${i}`, `10.1.${i >> 8}.${i & 255}`);
  expect(l.size).toBeLessThanOrEqual(50);
});
