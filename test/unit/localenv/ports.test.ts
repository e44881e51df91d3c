import net from 'node:net';
import { freePorts, freePortsInRange, waitForPort } from '../../../localenv/ports.js';

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

describe('freePortsInRange', () => {
  it('returns distinct bindable ports within the range, and refuses a range too small', async () => {
    const ports = await freePortsInRange(4, 20000, 32767);
    expect(new Set(ports).size).toBe(4);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(20000);
      expect(port).toBeLessThanOrEqual(32767);
      const server = net.createServer();
      await new Promise<void>((resolve, reject) =>
        server.once('error', reject).listen(port, '127.0.0.1', resolve),
      );
      await new Promise((resolve) => server.close(resolve));
    }
    await expect(freePortsInRange(3, 30000, 30001)).rejects.toThrow(
      'port range: need 3 ports within 30000-30001',
    );
  });

  it('skips a port that is taken', async () => {
    const [taken] = await freePortsInRange(1, 30100, 30199);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(taken, '127.0.0.1', resolve));
    try {
      const ports = await freePortsInRange(1, taken!, taken! + 1);
      expect(ports).toEqual([taken! + 1]);
    } finally {
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
