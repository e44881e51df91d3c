import net from 'node:net';

/** Asks the kernel for `count` distinct free TCP ports on loopback, holding all open until every one is known. */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, () => resolve());
      });
      servers.push(server);
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

/**
 * `count` distinct ports in [min, max] free on loopback now, picked at random and held open until
 * every one is known: for servers that cannot take any port (Temporal's SQL schema stores a
 * membership port as a smallint, so it must stay below 32768, under the kernel's ephemeral range).
 */
export async function freePortsInRange(
  count: number,
  min: number,
  max: number,
  host = '127.0.0.1',
): Promise<number[]> {
  if (!(
    Number.isInteger(min) &&
    Number.isInteger(max) &&
    min >= 1 &&
    max <= 65535 &&
    max - min + 1 >= count
  )) {
    throw new Error(`port range: need ${count} ports within ${min}-${max}`);
  }
  const servers: net.Server[] = [];
  const tried = new Set<number>();
  try {
    while (servers.length < count) {
      if (tried.size > (max - min + 1) / 2 + 100) {
        throw new Error(`port range: fewer than ${count} free ports found in ${min}-${max}`);
      }
      const port = min + Math.floor(Math.random() * (max - min + 1));
      if (tried.has(port)) continue;
      tried.add(port);
      const server = net.createServer();
      const ok = await new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false));
        server.listen(port, host, () => resolve(true));
      });
      if (ok) servers.push(server);
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

/** Resolves once something accepts TCP connections on host:port, or rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs: number, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, host);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listened on ${host}:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** True if nothing listens on host:port right now (a bind succeeds). */
export async function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}
