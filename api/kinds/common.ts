// Pieces shared by every kind's root schema.
import { string } from '../schema/index.js';
import { GROUP_VERSION } from './meta.js';

export function apiVersionField() {
  return string({ description: `Always ${GROUP_VERSION}.`, enum: [GROUP_VERSION] as const });
}

export function kindField<const K extends string>(kind: K) {
  return string({ description: `Always ${kind}.`, enum: [kind] as const });
}

/**
 * The warning for a Stork field Ferry stores but does not act on (Portworx- or Stork-admin-only):
 * `<Kind>/<name>: <path>: accepted but ignored by Ferry: <why>`, once per field and object.
 */
export function ignoredByFerry(why: string): string {
  return `accepted but ignored by Ferry: ${why}`;
}
