// How a failed request to an agent reads (datapath/client/http.ts unreachable).
import { unreachable } from '../../../datapath/client/http.js';

const eproto = Object.assign(
  new Error('write EPROTO 80DC:error:0A00010B:SSL routines:ssl3_get_record:wrong version number'),
  { code: 'EPROTO' },
);

describe('unreachable', () => {
  it('says when TLS met a port that speaks plain HTTP, and which URL to use', () => {
    const e = unreachable(new URL('https://10.0.0.5:9010/v1/chunks'), eproto);
    expect(e.message).toMatch(/^agent at https:\/\/10\.0\.0\.5:9010 unreachable: EPROTO write EPROTO /);
    expect(e.message).toContain('does not speak TLS');
    expect(e.message).toContain('if it serves plain HTTP, its URL is http://10.0.0.5:9010');
  });

  it('adds nothing to other failures', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:9010'), { code: 'ECONNREFUSED' });
    expect(unreachable(new URL('https://10.0.0.5:9010/'), refused).message).toBe(
      'agent at https://10.0.0.5:9010 unreachable: ECONNREFUSED connect ECONNREFUSED 10.0.0.5:9010',
    );
    expect(unreachable(new URL('http://10.0.0.5:9010/'), eproto).message).not.toContain('does not speak TLS');
  });
});
