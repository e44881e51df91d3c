import { parseStageMetrics, stageDetails } from '../../../bench/peers/ferry.js';
import { parseResticSummary } from '../../../bench/peers/restic.js';
import { parseRsyncStats, rsyncdConfig, sshdConfig } from '../../../bench/peers/rsync.js';

const RSYNC_STATS = `
Number of files: 12 (reg: 10, dir: 2)
Number of created files: 0
Number of deleted files: 0
Number of regular files transferred: 3
Total file size: 2,147,483,648 bytes
Total transferred file size: 1,048,576 bytes
Literal data: 40,960 bytes
Matched data: 1,007,616 bytes
File list size: 0
File list generation time: 0.001 seconds
File list transfer time: 0.000 seconds
Total bytes sent: 1,234,567
Total bytes received: 89,012

sent 1,234,567 bytes  received 89,012 bytes  2,647,158.00 bytes/sec
total size is 2,147,483,648  speedup is 1,622.49
`;

describe('parseRsyncStats', () => {
  it('reads the totals with thousands separators', () => {
    expect(parseRsyncStats(RSYNC_STATS)).toEqual({
      totalBytesSent: 1_234_567,
      totalBytesReceived: 89_012,
      literalData: 40_960,
      matchedData: 1_007_616,
      filesTransferred: 3,
    });
  });
  it('accepts the older "Number of files transferred" spelling and plain numbers', () => {
    const old = RSYNC_STATS.replace(
      'Number of regular files transferred',
      'Number of files transferred',
    ).replace(/(\d),(\d)/g, '$1$2');
    expect(parseRsyncStats(old).totalBytesSent).toBe(1_234_567);
    expect(parseRsyncStats(old).filesTransferred).toBe(3);
  });
  it('names the missing line', () => {
    expect(() => parseRsyncStats('nothing here')).toThrow('Total bytes sent');
  });
});

describe('rsyncdConfig', () => {
  it('declares one writable module at the destination, without chroot', () => {
    const conf = rsyncdConfig('/tmp/dst', '/tmp/p.pid', '/tmp/l.log');
    expect(conf).toContain('[vol]');
    expect(conf).toContain('path = /tmp/dst');
    expect(conf).toContain('read only = no');
    expect(conf).toContain('use chroot = no');
    expect(conf).toContain('pid file = /tmp/p.pid');
  });
});

describe('parseResticSummary', () => {
  it('picks the summary among status lines', () => {
    const out = [
      '{"message_type":"status","percent_done":0.5}',
      'some warning',
      '{"message_type":"summary","files_new":1,"files_changed":2,"files_unmodified":3,"data_added":101409,"total_bytes_processed":100000,"snapshot_id":"bc209038"}',
      '',
    ].join('\n');
    expect(parseResticSummary(out)).toEqual({
      filesNew: 1,
      filesChanged: 2,
      filesUnmodified: 3,
      dataAdded: 101409,
      totalBytesProcessed: 100000,
      snapshotId: 'bc209038',
    });
  });
  it('fails without a summary', () => {
    expect(() => parseResticSummary('{"message_type":"status"}\n')).toThrow('no summary');
  });
});

describe('Ferry stage metrics', () => {
  const scrape = (read: number, bytes: number): string =>
    [
      '# HELP ferry_agent_stage_seconds_total Data path: seconds ...',
      '# TYPE ferry_agent_stage_seconds_total counter',
      `ferry_agent_stage_seconds_total{stage="read"} ${read}`,
      'ferry_agent_stage_seconds_total{stage="send"} 0.5',
      `ferry_agent_stage_bytes_total{stage="read"} ${bytes}`,
      'ferry_agent_stage_bytes_total{stage="send"} 100',
      'ferry_agent_bytes_sent_total 9',
    ].join('\n');

  it('parses seconds and bytes by stage', () => {
    expect(parseStageMetrics(scrape(1.25, 4096))).toEqual(
      new Map([
        ['read', { seconds: 1.25, bytes: 4096 }],
        ['send', { seconds: 0.5, bytes: 100 }],
      ]),
    );
    expect(parseStageMetrics('ferry_agent_bytes_sent_total 9')).toEqual(new Map());
  });

  it('gives one scenario as the difference of two scrapes, as flat detail keys', () => {
    expect(stageDetails('source', scrape(1, 1000), scrape(3.5, 5000))).toEqual({
      'stage.source.read.seconds': 2.5,
      'stage.source.read.bytes': 4000,
      'stage.source.send.seconds': 0,
      'stage.source.send.bytes': 0,
    });
  });
});

describe('sshdConfig', () => {
  it('listens on loopback only, with the given keys, and allows no passwords', () => {
    const conf = sshdConfig({
      port: 2222,
      hostKey: '/w/host',
      authorizedKeys: '/w/auth',
      pidFile: '/w/sshd.pid',
    });
    const lines = conf.split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        'Port 2222',
        'ListenAddress 127.0.0.1',
        'HostKey /w/host',
        'AuthorizedKeysFile /w/auth',
        'PidFile /w/sshd.pid',
        'PasswordAuthentication no',
        'UsePAM no',
      ]),
    );
    expect(lines.filter((l) => l.startsWith('ListenAddress'))).toEqual(['ListenAddress 127.0.0.1']);
  });
});
