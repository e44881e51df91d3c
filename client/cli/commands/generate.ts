// `generate clusterpair NAME -n NS`: prints a ClusterPair for the cluster of the current
// kubeconfig (the standby), as storkctl does: the kubeconfig cut to its current context with
// every file inlined, and the destination agent's options (placeholders unless given).
import { readFileSync } from 'node:fs';
import { toYaml } from '../../../api/index.js';
import { clusterPairManifest, modeOption } from '../../cluster-pair.js';
import { loadKubeConfig } from '../../cluster.js';
import { flagValue, formatFlags, UsageError, type FlagSpec, type ParsedArgs } from '../args.js';
import type { Cli } from '../io.js';
import type { CommandDef } from '../program.js';

const FLAGS: FlagSpec[] = [
  {
    name: 'namespace',
    short: 'n',
    value: 'NAMESPACE',
    help: 'Namespace of the ClusterPair (default "default").',
  },
  {
    name: 'kubeconfig',
    value: 'FILE',
    help: "The standby's kubeconfig (default $KUBECONFIG, ~/.kube/config).",
  },
  { name: 'context', value: 'NAME', help: 'Kubeconfig context to use.' },
  { name: 'ip', value: 'IP', help: "Address of the standby's storage agent (options.ip)." },
  { name: 'port', value: 'PORT', help: "Control port of the standby's agent (options.port, default 9001)." },
  { name: 'token', value: 'TOKEN', help: "The standby agent's token (options.token)." },
  { name: 'token-file', value: 'FILE', help: "A file holding the standby agent's token." },
  {
    name: 'ca-file',
    value: 'FILE',
    help: "PEM CA the standby agent's certificate is signed by (options.caCert).",
  },
  {
    name: 'mode',
    value: 'MODE',
    help: 'async-dr (every migration incremental) or migration (every 7th full).',
  },
  { name: 'output', short: 'o', value: 'FORMAT', help: 'yaml (default) or json.' },
];

export function generateHelp(program: string): string {
  return `Generate a ClusterPair for the cluster of the current kubeconfig (run it against the standby,
apply its output on the active cluster).

Usage:
  ${program} generate clusterpair NAME [-n NAMESPACE] [--ip IP --token TOKEN --ca-file FILE] [--mode async-dr]

Flags:
${formatFlags(FLAGS)}
`;
}

export function runGenerate(cli: Cli, args: ParsedArgs): number {
  const [what, name, ...extra] = args.positionals;
  if (what === undefined) throw new UsageError('what to generate is missing: generate clusterpair NAME');
  if (!['clusterpair', 'clusterpairs', 'cp'].includes(what))
    throw new UsageError(`cannot generate "${what}": only clusterpair`);
  if (!name) throw new UsageError('the ClusterPair name is missing: generate clusterpair NAME');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const token = flagValue(args, 'token');
  const tokenFile = flagValue(args, 'token-file');
  if (token && tokenFile) throw new UsageError('--token and --token-file: give one of them');
  const read = (flag: string, file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(
        `${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  };
  const caFile = flagValue(args, 'ca-file');
  const format = flagValue(args, 'output') ?? 'yaml';
  if (!['yaml', 'json'].includes(format))
    throw new UsageError(`invalid value "${format}" for -o/--output: allowed formats are json, yaml`);
  let mode: string;
  try {
    mode = modeOption(flagValue(args, 'mode') ?? 'async-dr');
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const kc = loadKubeConfig({
    kubeconfig: flagValue(args, 'kubeconfig'),
    context: flagValue(args, 'context'),
  });
  const manifest = clusterPairManifest(name, flagValue(args, 'namespace') ?? 'default', kc, {
    ip: flagValue(args, 'ip'),
    port: flagValue(args, 'port'),
    token: token ?? (tokenFile ? read('--token-file', tokenFile).trim() : undefined),
    caCertPem: caFile ? read('--ca-file', caFile) : undefined,
    mode,
  });
  cli.out(format === 'json' ? `${JSON.stringify(manifest, null, 4)}\n` : toYaml(manifest));
  return 0;
}

export const generateCommand: CommandDef = {
  name: 'generate',
  summary: 'Generate a ClusterPair for the current kubeconfig (generate clusterpair NAME)',
  flags: FLAGS,
  help: generateHelp,
  run: runGenerate,
  completes: ['clusterpair'],
};
