// Rules: each item's actions run, in order, by `sh -c` through the pod exec API in the pods its
// podSelector picks in the migration's namespaces (one pod only with runInSinglePod). A command
// that exits non-zero fails the stage with the pod, the command and its output in the reason.
import { Context } from '@temporalio/activity';
import { Exec, type V1Status } from '@kubernetes/client-node';
import { PassThrough } from 'node:stream';
import { ruleSchema, type Rule } from '../api/index.js';
import { isPlainObject, nameOf, type KubeObject } from '../resources/objects.js';
import type { ActivityDeps } from './deps.js';
import { fail } from './errors.js';
import { KINDS } from '../kube/client.js';
import { storkKind } from './kube/stork.js';
import { NON_RETRYABLE, type RuleInput, type RuleResult } from './types.js';

const RULE = storkKind('Rule');
const OUTPUT_LIMIT = 2000;

export async function runRule(deps: ActivityDeps, input: RuleInput): Promise<RuleResult> {
  const signal = Context.current().cancellationSignal;
  const raw = await deps.source.get(RULE, input.namespace, input.rule, signal);
  const field = input.stage === 'PreExecRule' ? 'spec.preExecRule' : 'spec.postExecRule';
  if (!raw) fail(NON_RETRYABLE.notFound, `${field}: Rule ${input.namespace}/${input.rule} not found`);
  const issues = ruleSchema.validate(raw).filter((i) => i.severity === 'error');
  if (issues.length > 0)
    fail(
      NON_RETRYABLE.invalidSpec,
      `Rule ${input.namespace}/${input.rule}: ${issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  const rule = ruleSchema.applyDefaults(raw) as Rule;
  const ran: string[] = [];
  for (const [i, item] of rule.rules.entries()) {
    if (item.actions.some((a) => a.background))
      fail(
        NON_RETRYABLE.invalidSpec,
        `Rule ${input.namespace}/${input.rule}: rules[${i}]: background actions are not supported by Ferry yet`,
      );
    const selector = Object.entries(item.podSelector ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    let pods: KubeObject[] = [];
    for (const ns of input.podNamespaces) {
      const list = await deps.source.list(KINDS.pod, ns, { labelSelector: selector, signal });
      pods.push(...list.items.filter(isRunning));
    }
    if (item.actions.some((a) => a.runInSinglePod)) pods = pods.slice(0, 1);
    for (const action of item.actions) {
      for (const pod of action.runInSinglePod ? pods.slice(0, 1) : pods) {
        const where = `${pod.metadata?.namespace}/${nameOf(pod)}`;
        const container = item.container || firstContainer(pod);
        const result = await execInPod(deps, pod, container, action.value);
        Context.current().heartbeat({ ran: ran.length });
        if (result.code !== 0) {
          fail(
            NON_RETRYABLE.rule,
            `pod ${where}: command ${JSON.stringify(action.value)} exited with ${result.code}: ${result.output.slice(-OUTPUT_LIMIT).trim()}`,
          );
        }
        ran.push(`${where}: ${action.value}`);
      }
    }
  }
  return { ran };
}

function isRunning(pod: KubeObject): boolean {
  const status = pod['status'];
  return isPlainObject(status) && status['phase'] === 'Running';
}

function firstContainer(pod: KubeObject): string {
  const spec = pod['spec'];
  const containers = isPlainObject(spec) && Array.isArray(spec['containers']) ? spec['containers'] : [];
  const first = containers[0];
  return isPlainObject(first) && typeof first['name'] === 'string' ? first['name'] : '';
}

/** Runs `sh -c command` in a container; resolves with its exit code and combined output. */
export async function execInPod(
  deps: ActivityDeps,
  pod: KubeObject,
  container: string,
  command: string,
): Promise<{ code: number; output: string }> {
  const out = new PassThrough();
  let output = '';
  out.on('data', (d: Buffer) => {
    output += d.toString('utf8');
    if (output.length > 4 * OUTPUT_LIMIT) output = output.slice(-2 * OUTPUT_LIMIT);
  });
  const exec = new Exec(deps.source.kc);
  return new Promise((resolve, reject) => {
    exec
      .exec(
        String(pod.metadata?.namespace),
        nameOf(pod),
        container,
        ['sh', '-c', command],
        out,
        out,
        null,
        false,
        (status: V1Status) => {
          const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
          const code = status.status === 'Success' ? 0 : Number(cause?.message ?? 1);
          resolve({ code, output: output || (status.status === 'Success' ? '' : (status.message ?? '')) });
        },
      )
      .catch(reject);
  });
}
