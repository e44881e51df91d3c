// Pieces shared by every kind's root schema.
import { string } from '../schema/index.js';
import { GROUP_VERSION } from './meta.js';

export function apiVersionField() {
  return string({ description: `Always ${GROUP_VERSION}.`, enum: [GROUP_VERSION] as const });
}

export function kindField<const K extends string>(kind: K) {
  return string({ description: `Always ${kind}.`, enum: [kind] as const });
}
