import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePorts } from '../../localenv/ports.js';
import { runTimed, startCountingProxy, type CountingProxy } from '../measure.js';
import type { BenchContext, Peer, PeerRun, ScenarioContext } from '../peer.js';
import { startTimedServer, type TimedServer } from './timed-server.js';

/** The numbers `rsync --stats` prints that the benchmark keeps. */
export interface RsyncStats {
  totalBytesSent: number;
  totalBytesReceived: number;
  literalData: number;
  matchedData: number;
  filesTransferred: number;
}

/**
 * Parses `rsync --stats` output. Numbers may carry thousands separators ("1,234,567"; some
 * locales use "." or "'"), and "Number of regular files transferred" is spelled "Number of files
 * transferred" by older versions.
 */
export function parseRsyncStats(text: string): RsyncStats {
  const num = (re: RegExp, what: string): number => {
    const m = re.exec(text);
    if (!m) throw new Error(`rsync --stats output has no "${what}" line`);
    return Number(m[1]!.replace(/[,.' ]/g, ''));
  };
  return {
    totalBytesSent: num(/^Total bytes sent:\s+([\d,.' ]+?)\s*$/m, 'Total bytes sent'),
    totalBytesReceived: num(/^Total bytes received:\s+([\d,.' ]+?)\s*$/m, 'Total bytes received'),
    literalData: num(/^Literal data:\s+([\d,.' ]+?) bytes/m, 'Literal data'),
    matchedData: num(/^Matched data:\s+([\d,.' ]+?) bytes/m, 'Matched data'),
    filesTransferred: num(
      /^Number of (?:regular )?files transferred:\s+([\d,.' ]+?)\s*$/m,
      'files transferred',
    ),
  };
}

/** rsyncd.conf for one writable module rooted at `dest`, running as the invoking user. */
export function rsyncdConfig(dest: string, pidFile: string, logFile: string): string {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  return [
    `pid file = ${pidFile}`,
    `log file = ${logFile}`,
    'use chroot = no',
    `uid = ${uid}`,
    `gid = ${gid}`,
    '',
    '[vol]',
    `  path = ${dest}`,
    '  read only = no',
    '  list = yes',
    '',
  ].join('\n');
}

/** sshd_config for one login on loopback with `authorizedKeys`, as the invoking user. */
export function sshdConfig(o: {
  port: number;
  hostKey: string;
  authorizedKeys: string;
  pidFile: string;
}): string {
  return [
    `Port ${o.port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${o.hostKey}`,
    `AuthorizedKeysFile ${o.authorizedKeys}`,
    `PidFile ${o.pidFile}`,
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    // The keys live in the benchmark's work dir, under the OS temp dir.
    'StrictModes no',
    '',
  ].join('\n');
}

/** Where sshd is (it must be started by its absolute path to re-execute itself). */
export function findSshd(): string {
  for (const p of ['/usr/sbin/sshd', '/usr/local/sbin/sshd', '/sbin/sshd']) if (existsSync(p)) return p;
  throw new Error(
    'rsync-ssh needs sshd (Debian: apt-get install openssh-server); leave it out with --tools ferry,rsync,restic',
  );
}

/**
 * How the rsync client reaches the destination: `daemon` through `rsync --daemon` (plaintext, the
 * peer issue 14's targets name), `ssh` through a fresh sshd with OpenSSH's default cipher, the way a
 * copy between two clusters would go and encrypted as Ferry's stream is.
 */
export type RsyncTransport = 'daemon' | 'ssh';

/**
 * rsync on loopback: `rsync -a --no-whole-file --delete --stats SRC/ DEST` with DEST
 * `rsync://127.0.0.1:PROXY/vol/` (daemon) or `USER@127.0.0.1:DIR/` through `ssh -p PROXY` (ssh).
 * A fresh server (the daemon or sshd) is started for every scenario under GNU time and stopped
 * after the client exits (timed-server.ts). CPU = client (with its ssh child) + server; peak RSS =
 * the larger of the two (they would be on different machines).
 */
export function rsyncPeer(ctx: BenchContext, transport: RsyncTransport = 'daemon'): Peer {
  const name = transport === 'ssh' ? 'rsync-ssh' : 'rsync';
  const dir = path.join(ctx.workDir, name);
  const dest = path.join(dir, 'dest');
  const conf = path.join(dir, transport === 'ssh' ? 'sshd_config' : 'rsyncd.conf');
  const pidFile = path.join(dir, `${transport === 'ssh' ? 'sshd' : 'rsyncd'}.pid`);
  const clientKey = path.join(dir, 'client_key');
  let serverPort = 0;
  let sshd = '';
  let proxy: CountingProxy | undefined;
  let server: TimedServer | undefined;

  function keygen(file: string): void {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  }

  function startServer(): Promise<TimedServer> {
    const args =
      transport === 'ssh'
        ? ['-D', '-e', '-f', conf]
        : ['--daemon', '--no-detach', `--config=${conf}`, `--port=${serverPort}`, '--address=127.0.0.1'];
    return startTimedServer(ctx, {
      dir,
      name: transport === 'ssh' ? 'sshd' : 'daemon',
      command: transport === 'ssh' ? sshd : 'rsync',
      args,
      pidFile,
      port: serverPort,
    });
  }

  function destinationArgs(port: number): string[] {
    if (transport === 'daemon') return [`rsync://127.0.0.1:${port}/vol/`];
    const ssh = [
      'ssh',
      `-p ${port}`,
      `-i ${clientKey}`,
      '-o StrictHostKeyChecking=no',
      '-o UserKnownHostsFile=/dev/null',
      '-o BatchMode=yes',
      '-o LogLevel=ERROR',
    ].join(' ');
    return ['-e', ssh, `${os.userInfo().username}@127.0.0.1:${dest}/`];
  }

  async function stopServer(): Promise<{ cpuSeconds: number; peakRssBytes: number } | undefined> {
    const s = server;
    server = undefined;
    return s?.stop();
  }

  return {
    name,
    async setup() {
      mkdirSync(dest, { recursive: true });
      [serverPort] = (await freePorts(1)) as [number];
      if (transport === 'ssh') {
        sshd = findSshd();
        // sshd refuses to start without its privilege separation folder.
        mkdirSync('/run/sshd', { recursive: true });
        const hostKey = path.join(dir, 'host_key');
        keygen(hostKey);
        keygen(clientKey);
        const authorizedKeys = path.join(dir, 'authorized_keys');
        writeFileSync(authorizedKeys, readFileSync(`${clientKey}.pub`), { mode: 0o600 });
        writeFileSync(conf, sshdConfig({ port: serverPort, hostKey, authorizedKeys, pidFile }));
      } else {
        writeFileSync(conf, rsyncdConfig(dest, pidFile, path.join(dir, 'rsyncd.log')));
      }
      proxy = await startCountingProxy(serverPort);
    },
    async run(_s: ScenarioContext): Promise<PeerRun> {
      if (!proxy) throw new Error(`${name} peer not set up`);
      server = await startServer();
      proxy.reset();
      const client = await runTimed(
        'rsync',
        ['-a', '--no-whole-file', '--delete', '--stats', `${ctx.sourceDir}/`, ...destinationArgs(proxy.port)],
        {
          timeFile: path.join(dir, 'client.time'),
          onSpawn: (pid) => ctx.trackPid(pid),
          onExit: (pid) => ctx.untrackPid(pid),
        },
      ).catch(async (err: unknown) => {
        await stopServer();
        throw err;
      });
      const serverUsage = await stopServer();
      if (client.code !== 0) {
        throw new Error(
          `rsync exited with ${client.code ?? client.signal}: ${client.stderr.trim().slice(-2000)}`,
        );
      }
      if (!serverUsage) throw new Error(`${name}: the server's usage was not recorded`);
      const wire = proxy.counts();
      const stats = parseRsyncStats(client.stdout);
      return {
        wallSeconds: client.wallSeconds,
        bytesSent: wire.up + wire.down,
        cpuSeconds: Math.round((client.cpuSeconds + serverUsage.cpuSeconds) * 1000) / 1000,
        peakRssBytes: Math.max(client.peakRssBytes, serverUsage.peakRssBytes),
        details: {
          wireUp: wire.up,
          wireDown: wire.down,
          connections: wire.connections,
          statsTotalBytesSent: stats.totalBytesSent,
          statsTotalBytesReceived: stats.totalBytesReceived,
          statsLiteralData: stats.literalData,
          statsMatchedData: stats.matchedData,
          filesTransferred: stats.filesTransferred,
          clientCpuSeconds: client.cpuSeconds,
          daemonCpuSeconds: serverUsage.cpuSeconds,
          clientPeakRssBytes: client.peakRssBytes,
          daemonPeakRssBytes: serverUsage.peakRssBytes,
        },
      };
    },
    async stop() {
      await stopServer();
      await proxy?.close();
      proxy = undefined;
    },
  };
}
