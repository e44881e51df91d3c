// Rule (namespaced): commands run in pods before or after volumes are snapshotted (a
// Migration's preExecRule/postExecRule). Stork's shape: a top-level `rules` list.

import { array, bool, map, object, string, type InOf, type OutOf } from '../schema/index.js';
import { apiVersionField, kindField } from './common.js';
import { objectMeta } from './meta.js';

export const ruleActionSchema = object(
  {
    type: string({ description: 'Kind of action; only command.', enum: ['command'] }),
    value: string({ description: 'The command, run with sh -c in the container.', minLength: 1 }),
    background: bool({
      description: 'Run in the background until the migration has snapshotted the volumes (default false).',
      default: false,
    }),
    runInSinglePod: bool({ description: 'Run in one matching pod only (default false).', default: false }),
  },
  { required: ['type', 'value'] },
);

export const ruleItemSchema = object(
  {
    podSelector: map(string(), { description: 'Labels of the pods to run the actions in.' }),
    container: string({ description: 'Container to run in (default: the first).' }),
    actions: array(ruleActionSchema, { minItems: 1 }),
  },
  { required: ['podSelector', 'actions'] },
);

export const ruleSchema = object(
  {
    apiVersion: apiVersionField(),
    kind: kindField('Rule'),
    metadata: objectMeta,
    rules: array(ruleItemSchema, { description: 'Executed in order.', minItems: 1 }),
  },
  {
    description: 'Commands run in pods around snapshots.',
    required: ['apiVersion', 'kind', 'metadata', 'rules'],
  },
);

export type RuleAction = OutOf<typeof ruleActionSchema>;
export type RuleItem = OutOf<typeof ruleItemSchema>;
export type Rule = OutOf<typeof ruleSchema>;
export type RuleInput = InOf<typeof ruleSchema>;
