// A full disk is a clear, non-retryable 507 naming ENOSPC (or EDQUOT); other errors are not it.
import { noSpace } from '../../../datapath/errors.js';

const fsError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('noSpace', () => {
  it.each([
    [
      'ENOSPC',
      'ENOSPC: no space left on device, write',
      'disk full (ENOSPC): no space left on device, write',
    ],
    [
      'EDQUOT',
      "EDQUOT: disk quota exceeded, open '/d/x'",
      "disk full (EDQUOT): disk quota exceeded, open '/d/x'",
    ],
  ])('%s is 507 no_space, not retryable', (code, message, expected) => {
    expect(noSpace(fsError(code, message))).toMatchObject({
      status: 507,
      code: 'no_space',
      message: expected,
      retryable: false,
    });
  });

  it.each([fsError('EIO', 'EIO: i/o error'), new Error('plain'), undefined, 'ENOSPC'])('%p is not', (err) => {
    expect(noSpace(err)).toBeUndefined();
  });
});
