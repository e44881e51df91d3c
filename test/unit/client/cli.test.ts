// The CLI as a user runs it: validate, get schedulepolicy, policy next, help and usage errors.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NAMESPACES_MISSING } from '../../../api/index.js';
import { tempDir } from '../../harness/temp-dir.js';
import { FIXTURES, lines, run } from './run.js';

const tmp = tempDir('ferry-cli-');

const SEED = `${FIXTURES}seed`;
const POLICY = `${SEED}/schedulepolicy.yaml`;
const INVALID = `${FIXTURES}invalid`;

describe('ferry validate', () => {
  it('accepts the seed (exit 0), listing the objects, warnings on stderr', async () => {
    const r = await run(['validate', '-f', SEED]);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([
      'ClusterPair/remotecluster: valid',
      'MigrationSchedule/mysqlmigrationschedule: valid',
      'SchedulePolicy/testpolcy: valid',
    ]);
    expect(lines(r.stderr).every((l) => l.startsWith('Warning: '))).toBe(true);
    expect(r.stderr).toContain(
      'spec.schedulePolicyName: no SchedulePolicy "testpolicy" in the given files (did you mean "testpolcy"?)',
    );
  });

  it.each([
    [
      'bad-time.yaml',
      [
        `SchedulePolicy/testpolcy: policy.daily.time: "25:00PM" is not a time in Go's time.Kitchen form (e.g. 1:02PM or 1:02pm)`,
        `SchedulePolicy/testpolcy: policy.weekly.time: "22:13" is not a time in Go's time.Kitchen form (e.g. 1:02PM or 1:02pm)`,
        `SchedulePolicy/testpolcy: policy.monthly.time: "8:5PM" is not a time in Go's time.Kitchen form (e.g. 1:02PM or 1:02pm)`,
      ],
    ],
    [
      'bad-day.yaml',
      [
        'SchedulePolicy/testpolcy: policy.weekly.day: "Thorsday" is not a day of the week (e.g. Sunday or Sun, in any case)',
      ],
    ],
    [
      'bad-date.yaml',
      [
        'SchedulePolicy/testpolcy: policy.monthly.date: 32 is not a valid date of the month: must be between 1 and 31',
        'SchedulePolicy/zero: policy.monthly.date: 0 is not a valid date of the month: must be between 1 and 31',
      ],
    ],
    [
      'bad-interval.yaml',
      [
        'SchedulePolicy/testpolcy: policy.interval.intervalMinutes: 0 is not a valid interval: must be at least 1 minute',
        'SchedulePolicy/testpolcy: policy.interval.retain: 0 is not a valid retain count: must be at least 1',
        'SchedulePolicy/testpolcy: policy.daily.retain: -3 is not a valid retain count: must be at least 1',
      ],
    ],
    [
      'unknown-field.yaml',
      [
        'MigrationSchedule/mysqlmigrationschedule: spec.templat: unknown field (did you mean "template"?)',
        'MigrationSchedule/mysqlmigrationschedule: spec.template: required field is missing',
      ],
    ],
    [
      'cluster-pair.yaml',
      [
        'ClusterPair/remotecluster: spec.options.port: "99999" is not a valid port: must be between 1 and 65535',
        'ClusterPair/remotecluster: spec.options.mode: "Disaster" is not a valid mode: must be DisasterRecovery or empty',
      ],
    ],
    [
      'many.yaml',
      [
        'SchedulePolicy/nightly: policy.daily.time: "2:30" is not a time in Go\'s time.Kitchen form (e.g. 1:02PM or 1:02pm)',
        'SchedulePolicy/nightly: policy.timezone: "Mars/Olympus_Mons" is not an IANA time zone name (e.g. UTC, America/New_York)',
        'Migration/once: spec.includeVolume: unknown field (did you mean "includeVolumes"?)',
        'Migration/once: spec.startApplications: "false" is not a boolean (got a string); write true or false without quotes',
        `Migration/once: spec: ${NAMESPACES_MISSING}`,
        'Rule/flush: apiVersion: "stork.libopenstorage.org/v1" is not supported: use stork.libopenstorage.org/v1alpha1',
        'MigrationSchedul/typo: kind: "MigrationSchedul" is not a kind of stork.libopenstorage.org/v1alpha1 (did you mean "MigrationSchedule"?)',
      ],
    ],
    [
      'syntax.yaml',
      [
        `${FIXTURES}invalid/syntax.yaml: document 2, line 13: Map keys must be unique`,
        `${FIXTURES}invalid/syntax.yaml: document 2, line 15: Flow sequence in block collection must be sufficiently indented and end with a ]`,
      ],
    ],
  ])('rejects %s (exit 1), every error one per line', async (file, errors) => {
    const r = await run(['validate', '-f', `${INVALID}/${file}`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr).filter((l) => !l.startsWith('Warning: '))).toEqual(errors);
  });

  it('reads several -f and stdin (-f -)', async () => {
    let stdout = '';
    const { runCli } = await import('../../../client/cli/main.js');
    const code = await runCli(['validate', '-f', POLICY, '-f', '-'], {
      program: 'ferry',
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: () => true },
      stdin: () =>
        'apiVersion: stork.libopenstorage.org/v1alpha1\nkind: Rule\nmetadata: {name: r}\nrules: [{podSelector: {a: b}, actions: [{type: command, value: x}]}]\n',
    });
    expect(code).toBe(0);
    expect(lines(stdout)).toEqual(['SchedulePolicy/testpolcy: valid', 'Rule/r: valid']);
  });
});

describe('ferry get schedulepolicy', () => {
  const TABLE = [
    'NAME        INTERVAL-MINUTES   DAILY     WEEKLY             MONTHLY',
    'testpolcy   1                  10:14PM   Thursday@10:13PM   14@8:05PM',
  ];

  it("prints Stork's columns for the seed", async () => {
    const r = await run(['get', 'schedulepolicy', '-f', POLICY]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(lines(r.stdout)).toEqual(TABLE);
  });

  it('is the same under storkctl, and with the plural or short name', async () => {
    for (const [program, resource] of [
      ['storkctl', 'schedulepolicy'],
      ['ferry', 'schedulepolicies'],
      ['ferry', 'sp'],
    ] as const) {
      expect(lines((await run(['get', resource, '-f', POLICY], program)).stdout)).toEqual(TABLE);
    }
  });

  it('prints N/A for absent types, one row per policy, weekly/monthly as written', async () => {
    const r = await run(['get', 'schedulepolicy', '-f', `${FIXTURES}calendar/policies.yaml`]);
    expect(lines(r.stdout)).toEqual([
      'NAME                     INTERVAL-MINUTES   DAILY     WEEKLY             MONTHLY',
      'monthly-31               N/A                N/A       N/A                31@8:05PM',
      'monthly-seed             N/A                N/A       N/A                14@8:05PM',
      'weekly-thursday          N/A                N/A       Thursday@10:13PM   N/A',
      'weekly-sunday-new-york   N/A                N/A       sun@2:30am         N/A',
      'daily-new-york           N/A                1:30AM    N/A                N/A',
      'daily-sydney             N/A                2:30AM    N/A                N/A',
      'interval-week            10080              N/A       N/A                N/A',
    ]);
  });

  it('-o json prints the object with defaults; -o yaml the same as YAML', async () => {
    const json = await run(['get', 'schedulepolicy', '-f', POLICY, '-o', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      kind: 'SchedulePolicy',
      policy: { daily: { time: '10:14PM', retain: 30 } },
    });
    const yaml = await run(['get', 'schedulepolicy', '-f', POLICY, '-o', 'yaml']);
    expect(yaml.stdout).toContain('kind: SchedulePolicy\n');
    expect(yaml.stdout).toContain('    retain: 12\n');
  });

  it('prints several objects as a List, and filters by name', async () => {
    const list = JSON.parse(
      (await run(['get', 'sp', '-f', `${FIXTURES}calendar/policies.yaml`, '-o', 'json'])).stdout,
    );
    expect(list.kind).toBe('List');
    expect(list.items).toHaveLength(7);
    const one = await run([
      'get',
      'sp',
      'interval-week',
      '-f',
      `${FIXTURES}calendar/policies.yaml`,
      '-o',
      'name',
    ]);
    expect(one.stdout).toBe('schedulepolicy.stork.libopenstorage.org/interval-week\n');
    const missing = await run(['get', 'sp', 'nope', '-f', POLICY]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('error: schedulepolicy "nope" not found in the given files\n');
  });

  it("prints storkctl's columns for migration schedules", async () => {
    const r = await run(['get', 'migrationschedule', '-f', SEED]);
    expect(lines(r.stdout)).toEqual([
      'NAME                     POLICYNAME   CLUSTERPAIR     SUSPEND   LAST-SUCCESS-TIME   LAST-SUCCESS-DURATION',
      'mysqlmigrationschedule   testpolicy   remotecluster   false',
    ]);
  });

  it('fails on an invalid file, printing its errors', async () => {
    const r = await run(['get', 'schedulepolicy', '-f', `${INVALID}/bad-day.yaml`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('policy.weekly.day: "Thorsday"');
  });
});

describe('ferry policy next', () => {
  it('lists the next triggers merged and sorted, one "<type> <UTC time>" per line', async () => {
    const policy = join(tmp, 'p.yaml');
    writeFileSync(
      policy,
      'apiVersion: stork.libopenstorage.org/v1alpha1\nkind: SchedulePolicy\nmetadata: {name: p}\npolicy:\n  interval: {intervalMinutes: 720}\n  daily: {time: "10:14PM"}\n  weekly: {day: Thursday, time: "10:13PM"}\n  monthly: {date: 14, time: "8:05PM"}\n',
    );
    const r = await run(['policy', 'next', '-f', policy, '--after', '2026-02-26T12:00:00Z', '--count', '6']);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([
      'weekly 2026-02-26T22:13:00.000Z',
      'daily 2026-02-26T22:14:00.000Z',
      'interval 2026-02-27T00:00:00.000Z',
      'interval 2026-02-27T12:00:00.000Z',
      'daily 2026-02-27T22:14:00.000Z',
      'interval 2026-02-28T00:00:00.000Z',
    ]);
    const json = await run([
      'policy',
      'next',
      '-f',
      policy,
      '--after',
      '2026-02-26T12:00:00Z',
      '--count',
      '2',
      '-o',
      'json',
    ]);
    expect(JSON.parse(json.stdout)).toEqual([
      { policy: 'weekly', time: '2026-02-26T22:13:00.000Z' },
      { policy: 'daily', time: '2026-02-26T22:14:00.000Z' },
    ]);
  });

  it('defaults --after to now and --count to 10; accepts an offset in --after', async () => {
    const r = await run(['policy', 'next', '-f', POLICY], 'ferry', Date.parse('2026-02-26T12:00:00Z'));
    expect(lines(r.stdout)).toHaveLength(10);
    expect(lines(r.stdout)[0]).toBe('interval 2026-02-26T12:01:00.000Z');
    const offset = await run([
      'policy',
      'next',
      '-f',
      `${FIXTURES}calendar/policies.yaml`,
      '--name',
      'monthly-seed',
      '--after',
      '2026-03-14T15:05:00-05:00',
      '--count',
      '1',
    ]);
    expect(offset.stdout).toBe('monthly 2026-04-14T20:05:00.000Z\n');
  });

  it.each([
    [
      ['--after', 'yesterday'],
      'error: invalid value "yesterday" for --after: not an ISO-8601 time (e.g. 2026-02-27T22:00:00Z)',
    ],
    [['--count', '0'], 'error: invalid value "0" for --count: must be an integer between 1 and 100000'],
    [['--count', 'ten'], 'error: invalid value "ten" for --count: must be an integer between 1 and 100000'],
    [['-o', 'yaml'], 'error: invalid value "yaml" for -o/--output: allowed formats are json'],
    [
      ['--name', 'nope'],
      'error: invalid value "nope" for --name: no schedule policy of that name in the given files (found: testpolcy)',
    ],
    [['--frobnicate'], 'error: unknown flag: --frobnicate'],
    [['--after'], 'error: flag needs an argument: --after'],
  ])('usage error %j', async (args, message) => {
    const r = await run(['policy', 'next', '-f', POLICY, ...args]);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([message, "Run 'ferry policy next --help' for usage."]);
  });

  it('requires --name when the files hold several policies, listing them', async () => {
    const r = await run(['policy', 'next', '-f', `${FIXTURES}calendar/policies.yaml`]);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)[0]).toBe(
      'error: the files hold 7 schedule policies (monthly-31, monthly-seed, weekly-thursday, weekly-sunday-new-york, daily-new-york, daily-sydney, interval-week): choose one with --name',
    );
  });
});

describe('help and usage', () => {
  it.each([
    [['--help'], 'Commands:'],
    [['help', 'validate'], 'ferry validate -f FILE'],
    [['validate', '--help'], 'ferry validate -f FILE'],
    [['get', '-h'], 'ferry get RESOURCE [NAME...] [-f FILE]'],
    [['policy', '--help'], 'ferry policy next -f FILE'],
    [['policy', 'next', '--help'], '--count K'],
  ])('%j prints help (exit 0)', async (argv, text) => {
    const r = await run(argv);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(text);
  });

  it.each([
    [['frob'], 'error: unknown command "frob" for "ferry"'],
    [['--frob'], 'error: unknown flag: --frob'],
    [['validate'], 'error: must specify -f FILE'],
    [['validate', '-f', '/nonexistent.yaml'], 'error: the path "/nonexistent.yaml" does not exist'],
    [['validate', '-x'], 'error: unknown flag: -x'],
    [['validate', '-f', '/dev/null'], 'error: no objects found in the given files'],
    [['get'], 'error: you must specify the type of resource to get, e.g. "ferry get schedulepolicy -f FILE"'],
    [['get', 'pods', '-f', POLICY], 'error: unknown resource type "pods"; one of:'],
    [
      ['get', 'sp', '-f', POLICY, '-o', 'xml'],
      'error: invalid value "xml" for -o/--output: allowed formats are json, name, wide, yaml',
    ],
    [
      ['get', 'sp', '--kubeconfig', '/nonexistent/kubeconfig'],
      "cannot load kubeconfig /nonexistent/kubeconfig: ENOENT: no such file or directory, open '/nonexistent/kubeconfig'",
    ],
    [
      ['get', 'sp', '-A', '--kubeconfig', `${FIXTURES}seed/clusterpair.yaml`],
      'no cluster in the kubeconfig: pass --kubeconfig FILE or set KUBECONFIG',
    ],
    [['policy', 'last'], 'error: unknown command "last" for "ferry policy"'],
  ])('%j is a usage error (exit 1)', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)[0]).toBe(message);
  });

  it('names the program it runs as', async () => {
    const r = await run(['frob'], 'storkctl');
    expect(lines(r.stderr)).toEqual([
      'error: unknown command "frob" for "storkctl"',
      "Run 'storkctl --help' for usage.",
    ]);
  });
});
