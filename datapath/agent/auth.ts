// Bearer-token authentication. The presented token and the configured one are both reduced to
// SHA-256 digests (equal length whatever was sent) and compared with crypto.timingSafeEqual, so
// neither the token's content nor its length leaks through timing. A failure always gets the same
// 401 body, whatever was wrong (missing header, wrong scheme, wrong token).
import crypto from 'node:crypto';

export const UNAUTHORIZED_BODY = JSON.stringify({
  error: { code: 'unauthorized', message: 'unauthorized', retryable: false },
});

export class TokenAuth {
  private readonly digest: Buffer;
  constructor(token: string) {
    if (token.length === 0) throw new Error('the agent token must not be empty');
    this.digest = crypto.createHash('sha256').update(token).digest();
  }

  check(authorization: string | undefined): boolean {
    const m = /^Bearer ([^\s]+)\s*$/i.exec(authorization ?? '');
    const presented = crypto
      .createHash('sha256')
      .update(m?.[1] ?? '')
      .digest();
    return crypto.timingSafeEqual(presented, this.digest) && m !== null;
  }
}
