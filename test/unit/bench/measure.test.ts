import { spawn } from 'node:child_process';
import net from 'node:net';
import {
  parseProcIo,
  parseProcStat,
  parseStatusKiB,
  parseStraceReads,
  parseTimeOutput,
  processTree,
  resetPeakRss,
  sampleTree,
  startCountingProxy,
  waitForQuiet,
} from '../../../bench/measure.js';

describe('parseTimeOutput', () => {
  it('adds user and system seconds and turns KiB into bytes', () => {
    expect(parseTimeOutput('ferry-bench-time 1.25 0.50 2048\n')).toEqual({
      cpuSeconds: 1.75,
      peakRssBytes: 2048 * 1024,
    });
  });
  it("finds the marker line after GNU time's status lines", () => {
    const text = 'Command terminated by signal 15\nferry-bench-time 0.01 0.02 512\n';
    expect(parseTimeOutput(text)).toEqual({ cpuSeconds: 0.03, peakRssBytes: 512 * 1024 });
  });
  it('rejects output without the marker', () => {
    expect(() => parseTimeOutput('Command exited with non-zero status 1\n')).toThrow('no measurement line');
  });
});

describe('/proc parsers', () => {
  it('counts stat fields from the last parenthesis, whatever the command name holds', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    // fields 14..17 are utime, stime, cutime, cstime
    const line = `1234 (node (worker) x) ${fields.join(' ')}`;
    expect(parseProcStat(line).cpuTicks).toBe(14 + 15 + 16 + 17);
  });
  it('reads VmHWM from status', () => {
    const status = 'Name:\tnode\nVmPeak:\t  999 kB\nVmHWM:\t   1536 kB\nVmRSS:\t 1000 kB\n';
    expect(parseStatusKiB(status, 'VmHWM')).toBe(1536 * 1024);
    expect(parseStatusKiB(status, 'VmSwap')).toBeUndefined();
  });
  it('reads rchar and read_bytes from io', () => {
    expect(parseProcIo('rchar: 100\nwchar: 5\nsyscr: 3\nread_bytes: 4096\nwrite_bytes: 0\n')).toEqual({
      rchar: 100,
      readBytes: 4096,
    });
  });
  it('samples this process', () => {
    expect(processTree(process.pid)[0]).toBe(process.pid);
    const s = sampleTree(process.pid);
    expect(s.cpuSeconds).toBeGreaterThan(0);
    expect(s.peakRssBytes).toBeGreaterThan(1024 * 1024);
  });
});

describe('resetPeakRss', () => {
  it("brings a long-running process's peak back to its resident set, so the next peak is what came after", async () => {
    // a child that touches 160 MiB, gives it back (munmap), then waits
    const child = spawn(
      process.execPath,
      [
        '--expose-gc',
        '-e',
        "let b = Buffer.alloc(160 << 20, 1); b = null; gc(); console.log('freed'); setInterval(() => {}, 1000);",
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      const pid = child.pid as number;
      const before = sampleTree(pid).peakRssBytes;
      expect(before).toBeGreaterThan(160 << 20);
      expect(resetPeakRss(pid)).toBe(1);
      const after = sampleTree(pid).peakRssBytes;
      expect(after).toBeLessThan(before - (100 << 20));
      expect(after).toBeGreaterThan(1 << 20);
    } finally {
      child.kill();
    }
  });

  it('resets nothing for a process that is gone', () => {
    expect(resetPeakRss(2 ** 22 + 12345)).toBe(0);
  });
});

describe('startCountingProxy', () => {
  it('relays both directions and counts each', async () => {
    const echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const proxy = await startCountingProxy((echo.address() as net.AddressInfo).port);
    try {
      const payload = Buffer.alloc(300_000, 7);
      const got = await new Promise<number>((resolve, reject) => {
        const c = net.connect(proxy.port, '127.0.0.1');
        let n = 0;
        c.on('data', (d: Buffer) => {
          n += d.length;
          if (n >= payload.length) {
            c.end();
            resolve(n);
          }
        });
        c.on('error', reject);
        c.write(payload);
      });
      expect(got).toBe(payload.length);
      expect(proxy.counts()).toEqual({ up: payload.length, down: payload.length, connections: 1 });
      proxy.reset();
      expect(proxy.counts()).toEqual({ up: 0, down: 0, connections: 0 });
    } finally {
      await proxy.close();
      await new Promise((r) => echo.close(r));
    }
  });
});

describe('parseStraceReads', () => {
  const log = [
    '100 read(3</proc/self/stat>, ""..., 1024) = 300',
    '101 pread64(21</vol/src/db/data.db>, ""..., 65536, 0) = 65536',
    '102 pread64(22</vol/src/files/a.dat>, <unfinished ...>',
    '101 read(23</vol/src/files/b.dat>, ""..., 65536) = 0',
    '103 read(24</vol/other>, ""..., 10) = 10',
    '102 <... pread64 resumed>""..., 65536, 0) = 2048',
    '104 read(25<TCP:[127.0.0.1:1->127.0.0.1:2]>, ""..., 65536) = 900',
    '105 pread64(26</vol/src/db/data.db>, ""..., 65536, 65536) = -1 EINTR (Interrupted system call)',
  ].join('\n');
  it('sums positive results on files under the prefix, across unfinished/resumed pairs', () => {
    expect(parseStraceReads(log, '/vol/src/')).toEqual({
      bytes: 65536 + 2048,
      files: 2,
      examples: ['/vol/src/db/data.db', '/vol/src/files/a.dat'],
    });
  });
  it('reports nothing when no volume file is read', () => {
    expect(parseStraceReads('100 read(3</etc/hosts>, ""..., 10) = 10\n', '/vol/src/')).toEqual({
      bytes: 0,
      files: 0,
      examples: [],
    });
  });
});

describe('waitForQuiet', () => {
  it('waits until the CPU counters stop moving for the quiet time', async () => {
    const started = Date.now();
    // busy for ~120 ms, then still
    const cpu = (): number => Math.min(Date.now() - started, 120) / 1000;
    const waited = await waitForQuiet([1, 2], { quietMs: 60, pollMs: 10, cpuSeconds: cpu });
    expect(waited).toBeGreaterThanOrEqual(170);
    expect(waited).toBeLessThan(1000);
  });

  it('gives up after maxMs when the processes never go quiet', async () => {
    const waited = await waitForQuiet([1], {
      quietMs: 50,
      maxMs: 120,
      pollMs: 10,
      cpuSeconds: () => Date.now(),
    });
    expect(waited).toBeGreaterThanOrEqual(120);
    expect(waited).toBeLessThan(400);
  });

  it('returns after the quiet time when nothing moves', async () => {
    const waited = await waitForQuiet([1], { quietMs: 50, pollMs: 10, cpuSeconds: () => 1 });
    expect(waited).toBeGreaterThanOrEqual(50);
    expect(waited).toBeLessThan(400);
  });
});
