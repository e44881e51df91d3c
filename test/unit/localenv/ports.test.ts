import net from 'node:net';
import { freePorts, waitForPort } from '../../../localenv/ports.js';

describe('freePorts', () => {
  it('returns distinct ports that can be bound', async () => {
    const ports = await freePorts(5);
    expect(new Set(ports).size).toBe(5);
    for (const port of ports) {
      expect(port).toBeGreaterThan(1023);
      const server = net.createServer();
      await new Promise<void>((resolve, reject) =>
        server.once('error', reject).listen(port, '127.0.0.1', resolve),
      );
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('waitForPort', () => {
  it('rejects, naming the address, when nothing listens', async () => {
    const [port] = await freePorts(1);
    await expect(waitForPort(port!, 200)).rejects.toThrow(`127.0.0.1:${port} within 200 ms`);
  });
  it('resolves once a listener appears', async () => {
    const [port] = await freePorts(1);
    const server = net.createServer();
    setTimeout(() => server.listen(port, '127.0.0.1'), 150);
    await waitForPort(port!, 5000);
    await new Promise((resolve) => server.close(resolve));
  });
});
