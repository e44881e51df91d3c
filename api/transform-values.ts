// Value syntaxes of a ResourceTransformation, shared by validation (api/kinds) and by applying
// transformations (resources/transformation.ts), the way policy-values.ts serves schedules:
//
//   resource   group/version/kind, the core group empty or `core`: /v1/Service, apps/v1/Deployment
//   path       field names joined by dots, each optionally followed by [n] list indexes:
//              spec.type, metadata.annotations.foo, spec.ports[0].nodePort. It may not end with an
//              index (a whole list element is not transformable, as in Stork).
//   value      a string, read according to `type`:
//                string   as written
//                int      a whole number, optionally signed: 30080
//                bool     what Go's strconv.ParseBool takes: true, false, 1, 0, t, f, TRUE, False...
//                slice    comma-separated items: a,b,c ("" is the empty list)
//                keypair  comma-separated key:value pairs: app:web,tier:db ("" is the empty map);
//                         a pair splits at its first colon, so a value may contain colons
//              Spaces around slice items, keys and values are dropped.
//   operation  add | modify | delete (Stork's jsonpatch is refused, as Stork refuses it).

import type { PathSegment } from './schema/index.js';

export const TRANSFORM_VALUE_TYPES = ['bool', 'int', 'string', 'slice', 'keypair'] as const;
export type TransformValueType = (typeof TRANSFORM_VALUE_TYPES)[number];
export const TRANSFORM_OPERATIONS = ['add', 'modify', 'delete'] as const;
export type TransformOperation = (typeof TRANSFORM_OPERATIONS)[number];

/** A step of a transformation path: a field name or a list index. */
export type TransformPathStep = string | number;

export interface GroupVersionKind {
  /** "" for the core group. */
  group: string;
  version: string;
  kind: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(message: string): Parsed<T> => ({ ok: false, message });
const q = (s: string) => JSON.stringify(s);

const GROUP = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const VERSION = /^v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?$/;
const KIND = /^[A-Z][A-Za-z0-9]*$/;

/** `group/version/kind` -> its parts; the core group is written empty (/v1/Service) or `core`. */
export function parseResourceKind(resource: string): Parsed<GroupVersionKind> {
  const parts = resource.split('/');
  if (parts.length !== 3) {
    return bad(
      `${q(resource)} is not a resource of the form group/version/kind (e.g. /v1/Service, apps/v1/Deployment)`,
    );
  }
  const [group, version, kind] = parts as [string, string, string];
  if (group !== '' && group !== 'core' && !GROUP.test(group))
    return bad(`${q(resource)}: ${q(group)} is not an API group (e.g. apps; empty for the core group)`);
  if (!VERSION.test(version))
    return bad(`${q(resource)}: ${q(version)} is not an API version (e.g. v1, v1beta1)`);
  if (!KIND.test(kind)) return bad(`${q(resource)}: ${q(kind)} is not a kind (CamelCase, e.g. Service)`);
  return ok({ group: group === 'core' ? '' : group, version, kind });
}

const STEP = /^([^.[\]]+)((?:\[[0-9]+\])*)$/;

/** `spec.ports[0].nodePort` -> ['spec', 'ports', 0, 'nodePort']. */
export function parseTransformPath(path: string): Parsed<TransformPathStep[]> {
  const example = '(e.g. spec.type, metadata.annotations.foo, spec.ports[0].nodePort)';
  if (path === '') return bad(`must not be empty ${example}`);
  const steps: TransformPathStep[] = [];
  for (const part of path.split('.')) {
    const m = STEP.exec(part);
    if (!m) {
      return bad(`${q(path)} is not a path of field names joined by dots, with [n] list indexes ${example}`);
    }
    steps.push(m[1]!);
    for (const index of m[2]!.matchAll(/\[([0-9]+)\]/g)) {
      const n = Number(index[1]);
      if (!Number.isSafeInteger(n)) return bad(`${q(path)}: index ${index[1]} is too large`);
      steps.push(n);
    }
  }
  if (typeof steps[steps.length - 1] === 'number') {
    return bad(
      `${q(path)} ends with a list index: a whole list element cannot be transformed, only a field of it ` +
        `(e.g. ${path}.name)`,
    );
  }
  return ok(steps);
}

const GO_BOOLS: Record<string, boolean> = {
  '1': true,
  t: true,
  T: true,
  TRUE: true,
  true: true,
  True: true,
  '0': false,
  f: false,
  F: false,
  FALSE: false,
  false: false,
  False: false,
};

/** Reads a transformation's `value` string as its `type` says. */
export function parseTransformValue(value: string, type: TransformValueType): Parsed<unknown> {
  switch (type) {
    case 'string':
      return ok(value);
    case 'int': {
      const n = /^[+-]?[0-9]+$/.test(value) ? Number(value) : NaN;
      if (Number.isNaN(n))
        return bad(`${q(value)} is not an int: type int wants a whole number (e.g. 30080)`);
      if (!Number.isSafeInteger(n))
        return bad(`${q(value)} is out of range: an int must be within ±${Number.MAX_SAFE_INTEGER}`);
      return ok(n);
    }
    case 'bool':
      return Object.hasOwn(GO_BOOLS, value)
        ? ok(GO_BOOLS[value])
        : bad(`${q(value)} is not a bool: use true or false (or 1, 0, t, f, TRUE, False, ...)`);
    case 'slice':
      return ok(value.trim() === '' ? [] : value.split(',').map((s) => s.trim()));
    case 'keypair': {
      const out: Record<string, string> = {};
      if (value.trim() === '') return ok(out);
      for (const item of value.split(',')) {
        const colon = item.indexOf(':');
        const key = colon < 0 ? '' : item.slice(0, colon).trim();
        if (key === '') {
          return bad(`${q(value)} is not a keypair list: ${q(item)} is not key:value (e.g. app:web,tier:db)`);
        }
        out[key] = item.slice(colon + 1).trim();
      }
      return ok(out);
    }
  }
}

/** What the schema (or anyone holding a transformation spec) may hand in: fields as written. */
export interface TransformPathInput {
  path?: string;
  value?: string;
  type?: string;
  operation?: string;
}
export interface TransformSpecInput {
  resource?: string;
  selectors?: Record<string, string>;
  paths?: readonly TransformPathInput[];
}
export interface TransformationSpecInput {
  transformSpecs?: readonly TransformSpecInput[];
}

/** One problem of a transformation spec; `path` is relative to the spec (`transformSpecs[0]...`). */
export interface TransformationProblem {
  path: PathSegment[];
  value: unknown;
  message: string;
}

const isOneOf = <T extends string>(list: readonly T[], v: string | undefined): v is T =>
  v !== undefined && (list as readonly string[]).includes(v);

export function operationMessage(operation: string): string {
  return operation.toLowerCase() === 'jsonpatch'
    ? `${q(operation)} is not supported (Stork refuses JSON patches too): use add, modify or delete`
    : `${q(operation)} is not an operation: use add, modify or delete`;
}

/**
 * Every problem of a ResourceTransformation's `specs`: resources that are not group/version/kind,
 * paths that do not parse, values their type cannot read, add/modify without a type, unknown
 * operations or types. Empty when the spec can be applied.
 */
export function validateTransformationSpec(spec: TransformationSpecInput): TransformationProblem[] {
  const problems: TransformationProblem[] = [];
  const problem = (path: PathSegment[], value: unknown, message: string) =>
    problems.push({ path, value, message });
  (spec.transformSpecs ?? []).forEach((ts, i) => {
    const at = ['transformSpecs', i];
    if (ts.resource === undefined) problem([...at, 'resource'], undefined, 'required field is missing');
    else {
      const gvk = parseResourceKind(ts.resource);
      if (!gvk.ok) problem([...at, 'resource'], ts.resource, gvk.message);
    }
    (ts.paths ?? []).forEach((p, j) => {
      const pat = [...at, 'paths', j];
      if (p.path === undefined) problem([...pat, 'path'], undefined, 'required field is missing');
      else {
        const steps = parseTransformPath(p.path);
        if (!steps.ok) problem([...pat, 'path'], p.path, steps.message);
      }
      if (p.operation === undefined) problem([...pat, 'operation'], undefined, 'required field is missing');
      else if (!isOneOf(TRANSFORM_OPERATIONS, p.operation))
        problem([...pat, 'operation'], p.operation, operationMessage(p.operation));
      if (p.operation === 'delete') return; // type and value play no part
      if (p.type === undefined) {
        problem(
          [...pat, 'type'],
          undefined,
          `required for operation ${p.operation ?? 'add'}: one of ${TRANSFORM_VALUE_TYPES.join(', ')}`,
        );
      } else if (!isOneOf(TRANSFORM_VALUE_TYPES, p.type)) {
        problem(
          [...pat, 'type'],
          p.type,
          `${q(p.type)} is not a value type: one of ${TRANSFORM_VALUE_TYPES.join(', ')}`,
        );
      } else {
        const value = parseTransformValue(p.value ?? '', p.type);
        if (!value.ok) problem([...pat, 'value'], p.value, value.message);
      }
    });
  });
  return problems;
}
