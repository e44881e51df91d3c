// `ferry agent`'s flags: the boolean ones, --data-plaintext among them, and errors that name the flag.
import { parseAgentFlags } from '../../../workers/agent.js';

const base = ['--data-root', '/tmp/r', '--token-file', 't', '--tls-cert', 'c', '--tls-key', 'k'];

describe('parseAgentFlags', () => {
  it('serves the data port over TLS unless --data-plaintext is given', () => {
    expect(parseAgentFlags(base).dataPlaintext).toBe(false);
    expect(parseAgentFlags([...base, '--data-plaintext']).dataPlaintext).toBe(true);
  });

  it.each(['--data-plaintext=yes', '--fsync=1', '--no-compress=true'])(
    'refuses a value for a boolean flag (%s), naming it',
    (arg) => {
      const name = arg.slice(0, arg.indexOf('='));
      expect(() => parseAgentFlags([...base, arg])).toThrow(`${name} takes no value`);
    },
  );

  it('keeps the other flags as they were', () => {
    const f = parseAgentFlags([...base, '--fsync', '--no-compress', '--data-port', '0']);
    expect(f).toMatchObject({ fsync: true, compress: false, dataPort: 0, dataPlaintext: false, port: 9001 });
  });
});
