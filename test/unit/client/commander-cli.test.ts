// The CLI on commander: help for every verb, "did you mean" for verbs and flags, kubectl-style
// flag forms, the new verbs' usage errors, kubectl describe's layout, and shell completion run
// through a real bash.
import { execFileSync } from 'node:child_process';
import {
  describeEvents,
  describeMap,
  describeObject,
  titleCase,
} from '../../../client/cli/describe-format.js';
import { commands } from '../../../client/cli/main.js';
import { normalizeFlags } from '../../../client/cli/program.js';
import { resourceCounts } from '../../../client/cli/commands/describe.js';
import { lines, run } from './run.js';

describe('help and suggestions', () => {
  it.each(
    commands('ferry')
      .filter((c) => !c.external)
      .map((c) => c.name),
  )('%s --help prints its usage (exit 0)', async (verb) => {
    const r = await run([verb, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`ferry ${verb}`);
    const viaHelp = await run(['help', verb]);
    expect(viaHelp.stdout).toBe(r.stdout);
  });

  it('suggests the verb meant, kubectl style', async () => {
    const r = await run(['describ'], 'storkctl');
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([
      'error: unknown command "describ" for "storkctl"',
      'Did you mean this?',
      '\tdescribe',
      "Run 'storkctl --help' for usage.",
    ]);
  });

  it('suggests the flag meant, and names a flag missing its value', async () => {
    const typo = await run(['get', 'migrations', '--kubeconfg', 'x']);
    expect(lines(typo.stderr)).toEqual([
      'error: unknown flag: --kubeconfg (did you mean --kubeconfig?)',
      "Run 'ferry get --help' for usage.",
    ]);
    const missing = await run(['trigger', 'migrationschedule', 's', '-n']);
    expect(lines(missing.stderr)[0]).toBe('error: flag needs an argument: --namespace');
    expect(missing.code).toBe(1);
  });

  it('a flag given twice is refused unless repeatable', async () => {
    const r = await run(['get', 'sp', '-o', 'json', '-o', 'yaml', '-f', '/dev/null']);
    expect(lines(r.stderr)[0]).toBe('error: flag --output given more than once');
  });

  it.each([
    [['suspend'], 'error: what to suspend is missing: suspend migrationschedules NAME', 'suspend'],
    [['resume', 'migrations', 'x'], 'error: cannot resume "migrations": only migrationschedules', 'resume'],
    [
      ['suspend', 'migrationschedules'],
      'error: the schedule name is missing: suspend migrationschedules NAME',
      'suspend',
    ],
    [['trigger', 'migration', 'x'], 'error: cannot trigger "migration": only migrationschedule', 'trigger'],
    [['watch', 'migration'], 'error: the migration name is missing: watch migration NAME', 'watch'],
    [
      ['watch', 'migration', 'm', '--interval', '0'],
      'error: invalid value "0" for --interval: must be a number of seconds in (0, 3600]',
      'watch',
    ],
    [['describe', 'migration'], 'error: the migration name is missing: describe migration NAME', 'describe'],
    [['describe', 'pods', 'x'], 'error: unknown resource type "pods"; one of:', 'describe'],
    [['completion', 'fish'], 'error: invalid shell "fish": must be bash or zsh', 'completion'],
    [['get', 'sp', '-w', '-f', '/dev/null'], 'error: -w/--watch reads a cluster: not with -f', 'get'],
  ])('%j is a usage error', async (argv, message, verb) => {
    const r = await run(argv);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)[0]).toBe(message);
    expect(lines(r.stderr).pop()).toBe(`Run 'ferry ${verb} --help' for usage.`);
  });
});

describe('normalizeFlags', () => {
  const specs = [
    { name: 'filename', short: 'f', value: 'FILE', help: '' },
    { name: 'all-namespaces', short: 'A', shortAliases: ['a'], help: '' },
  ];
  it.each([
    [['-f=x.yaml'], ['-f', 'x.yaml']],
    [['--filename=a=b'], ['--filename', 'a=b']],
    [['-A=true', '-a=false'], ['-A']],
    [['--all-namespaces=true'], ['--all-namespaces']],
    [
      ['--', '-f=x'],
      ['--', '-f=x'],
    ],
    [
      ['--other=1', 'pos'],
      ['--other=1', 'pos'],
    ],
  ])('%j → %j', (argv, out) => expect(normalizeFlags(argv, specs)).toEqual(out));

  it('refuses a boolean that is neither true nor false, naming flag and value', () => {
    expect(() => normalizeFlags(['-a=maybe'], specs)).toThrow(
      'invalid value "maybe" for -a: must be true or false',
    );
  });
});

describe('kubectl describe layout', () => {
  it.each([
    ['schedulePolicyName', 'Schedule Policy Name'],
    ['uid', 'UID'],
    ['apiVersion', 'API Version'],
    ['numOfMigratedVolumes', 'Num Of Migrated Volumes'],
    ['Interval', 'Interval'],
  ])('%s → %s', (key, title) => expect(titleCase(key)).toBe(title));

  it("renders the seed's schedule as kubectl does", () => {
    expect(
      describeMap({
        spec: {
          schedulePolicyName: 'daily',
          template: {
            spec: {
              clusterPair: 'remotecluster',
              includeResources: true,
              namespaces: ['mysql'],
              selectors: null,
            },
          },
        },
        status: {
          items: {
            Interval: [
              {
                creationTimestamp: '2019-02-16T00:40:52Z',
                finishTimestamp: '2019-02-16T00:41:52Z',
                name: 'a',
                status: 'Successful',
              },
              {
                creationTimestamp: '2019-02-16T00:41:52Z',
                finishTimestamp: null,
                name: 'b',
                status: 'InProgress',
              },
            ],
          },
        },
      }),
    ).toEqual([
      'Spec:',
      '  Schedule Policy Name:  daily',
      '  Template:',
      '    Spec:',
      '      Cluster Pair:       remotecluster',
      '      Include Resources:  true',
      '      Namespaces:',
      '        mysql',
      '      Selectors:          <nil>',
      'Status:',
      '  Items:',
      '    Interval:',
      '      Creation Timestamp:  2019-02-16T00:40:52Z',
      '      Finish Timestamp:    2019-02-16T00:41:52Z',
      '      Name:                a',
      '      Status:              Successful',
      '      Creation Timestamp:  2019-02-16T00:41:52Z',
      '      Finish Timestamp:    <nil>',
      '      Name:                b',
      '      Status:              InProgress',
    ]);
  });

  it('prints the Events table, repeated events with their count', () => {
    const now = Date.parse('2026-12-01T12:00:00Z');
    expect(
      describeEvents(
        [
          {
            type: 'Normal',
            reason: 'Successful',
            message: 'Scheduled migration (x) completed successfully',
            count: 53,
            firstTimestamp: '2026-12-01T09:16:00Z',
            lastTimestamp: '2026-12-01T11:55:00Z',
            source: { component: 'ferry' },
          },
          {
            type: 'Warning',
            reason: 'Failed',
            message: 'boom',
            lastTimestamp: '2026-12-01T11:00:00Z',
            reportingComponent: 'ferry',
          },
        ],
        now,
      ),
    ).toEqual([
      'Events:',
      '  Type     Reason      Age                 From   Message',
      '  ----     ------      ---                 ----   -------',
      '  Warning  Failed      60m                 ferry  boom',
      '  Normal   Successful  5m (x53 over 164m)  ferry  Scheduled migration (x) completed successfully',
    ]);
    expect(describeEvents([], now)).toEqual(['Events:  <none>']);
  });

  it('heads the description with name, namespace, labels and annotations', () => {
    const text = describeObject(
      {
        apiVersion: 'stork.libopenstorage.org/v1alpha1',
        kind: 'Migration',
        metadata: { name: 'm', namespace: 'db', labels: { a: 'b' }, uid: 'u-1', managedFields: [{}] },
        spec: { clusterPair: 'remote' },
      },
      [],
      0,
    );
    expect(text.split('\n').slice(0, 9)).toEqual([
      'Name:         m',
      'Namespace:    db',
      'Labels:       a=b',
      'Annotations:  <none>',
      'API Version:  stork.libopenstorage.org/v1alpha1',
      'Kind:         Migration',
      'Metadata:',
      '  UID:  u-1',
      'Spec:',
    ]);
    expect(text).not.toContain('Managed Fields');
  });

  it("cuts a migration's resources to counts per status and kind, listing failures", () => {
    expect(
      resourceCounts([
        { kind: 'ConfigMap', status: 'Successful' },
        { kind: 'ConfigMap', status: 'Successful' },
        { kind: 'Deployment', status: 'Successful' },
        {
          kind: 'Secret',
          namespace: 'db',
          name: 's',
          status: 'Failed',
          reason: 'Error applying resource: x',
        },
      ]),
    ).toEqual({
      Successful: '3 (ConfigMap 2, Deployment 1)',
      Failed: '1 (Secret 1)',
      failed: ['Secret db/s: Error applying resource: x'],
    });
  });
});

describe('completion', () => {
  const complete = (program: 'ferry' | 'storkctl', script: string, words: string[]): string[] => {
    const bash = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _${program}_complete; printf '%s\\n' "\${COMPREPLY[@]}"`;
    return execFileSync('bash', ['-c', bash], { encoding: 'utf8' }).split('\n').filter(Boolean);
  };

  it('bash completes verbs, resource kinds, subcommands and flags', async () => {
    const script = (await run(['completion', 'bash'], 'storkctl')).stdout;
    expect(complete('storkctl', script, ['storkctl', 'su'])).toEqual(['suspend']);
    expect(complete('storkctl', script, ['storkctl', 'get', 'migrations']).sort()).toEqual([
      'migrations',
      'migrationschedule',
      'migrationschedules',
    ]);
    expect(complete('storkctl', script, ['storkctl', 'suspend', ''])).toEqual([
      'migrationschedules',
      'migrationschedule',
    ]);
    expect(complete('storkctl', script, ['storkctl', 'policy', ''])).toEqual(['next']);
    expect(complete('storkctl', script, ['storkctl', 'get', 'migrations', '--clu'])).toEqual([
      '--clusterpair',
    ]);
    expect(complete('storkctl', script, ['storkctl', 'get', 'migrations', '-o', 'y'])).toEqual(['yaml']);
    expect(complete('storkctl', script, ['storkctl', 'ag'])).toEqual([]);
    const ferry = (await run(['completion', 'bash'])).stdout;
    expect(complete('ferry', ferry, ['ferry', 'wor'])).toEqual(['worker']);
  });

  it('zsh wraps the same function through bashcompinit', async () => {
    const r = await run(['completion', 'zsh']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('#compdef ferry');
    expect(r.stdout).toContain('bashcompinit');
    expect(r.stdout).toContain('complete -o default -F _ferry_complete ferry');
  });
});
