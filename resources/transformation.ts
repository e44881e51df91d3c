// Stork's ResourceTransformation applied to one Kubernetes object (plain JSON), pure:
//
//   const { object, applied } = applyTransformations(service, [rt1.specs, rt2.specs]);
//
// Each transformation's transformSpecs, in order, select the object when `resource` names its
// group/version/kind (apiVersion `v1` is group "", so `/v1/Service`) and the object carries every
// label of `selectors`. The paths of a selecting spec apply in order:
//   add     sets the value at the path, creating missing maps on the way (a keypair replaces the
//           whole map, a slice the whole list)
//   modify  the same, except that a keypair is merged into the map already there (which must
//           exist) and a slice is appended to the list there (created when absent)
//   delete  removes the field; a path that is not there is left alone
// Value syntaxes are api/transform-values.ts's. As Stork does, a transformed object is annotated
// `stork.libopenstorage.org/resourcetransformation-name: "true"`. The input is never changed.
// A spec that does not validate, or a path the object cannot take (an index past the end of a
// list, a field under a string), throws a TransformationError naming the field and the value.

import {
  parseResourceKind,
  parseTransformPath,
  parseTransformValue,
  validateTransformationSpec,
  formatPath,
  type ResourceTransformationSpec,
  type TransformPath,
  type TransformPathStep,
  type TransformSpec,
  type TransformValueType,
} from '../api/index.js';

export { validateTransformationSpec, type ResourceTransformationSpec };

/** A Kubernetes object as JSON. */
export type KubeObject = Record<string, unknown>;

/** Stork's mark on an object a transformation changed. */
export const TRANSFORMED_ANNOTATION = 'stork.libopenstorage.org/resourcetransformation-name';

/** A bad transformation, or one the object cannot take: not retryable. */
export class TransformationError extends Error {
  readonly nonRetryable = true;
  constructor(
    /** The field at fault: `transformations[0].transformSpecs[1].paths[0].value`, or a path. */
    readonly field: string,
    /** Its value as written. */
    readonly value: unknown,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'TransformationError';
  }
}

const isMap = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

function cloneJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map(cloneJson) as T;
  if (isMap(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, cloneJson(v)])) as T;
  return value;
}

/** The object's group, version and kind from its apiVersion and kind. */
function objectKind(obj: KubeObject): { group: string; version: string; kind: string } | undefined {
  const { apiVersion, kind } = obj;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return undefined;
  const slash = apiVersion.lastIndexOf('/');
  return slash < 0
    ? { group: '', version: apiVersion, kind }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1), kind };
}

function selects(spec: TransformSpec, obj: KubeObject): boolean {
  const want = parseResourceKind(spec.resource);
  const have = objectKind(obj);
  if (!want.ok || !have) return false;
  if (want.value.group !== have.group || want.value.version !== have.version || want.value.kind !== have.kind)
    return false;
  const meta = isMap(obj['metadata']) ? obj['metadata'] : {};
  const labels = isMap(meta['labels']) ? meta['labels'] : {};
  return Object.entries(spec.selectors ?? {}).every(([k, v]) => labels[k] === v);
}

function describe(obj: KubeObject): string {
  const meta = isMap(obj['metadata']) ? obj['metadata'] : {};
  const ns = typeof meta['namespace'] === 'string' ? `${meta['namespace']}/` : '';
  return `${String(obj['kind'])} ${ns}${String(meta['name'])}`;
}

/**
 * Walks to the parent of the last step. With `create`, missing or null maps on the way are
 * created; without, undefined is returned when anything is missing.
 */
function parentOf(
  root: KubeObject,
  steps: readonly TransformPathStep[],
  create: boolean,
  fail: (message: string) => never,
): Record<string, unknown> | undefined {
  let cur: unknown = root;
  for (let i = 0; i < steps.length - 1; i++) {
    const step = steps[i]!;
    const here = formatPath(steps.slice(0, i + 1));
    const nextIsIndex = typeof steps[i + 1] === 'number';
    let next: unknown;
    if (typeof step === 'number') {
      const list = cur as unknown[];
      if (step >= list.length) {
        if (!create) return undefined;
        const n = list.length;
        fail(`${formatPath(steps.slice(0, i))} has ${n} item${n === 1 ? '' : 's'}, so there is no ${here}`);
      }
      next = list[step];
    } else {
      const map = cur as Record<string, unknown>;
      next = map[step];
      if ((next === undefined || next === null) && create && !nextIsIndex) map[step] = next = {};
    }
    if (!(nextIsIndex ? Array.isArray(next) : isMap(next))) {
      if (!create) return undefined;
      fail(
        next === undefined || next === null
          ? `there is no list at ${here}`
          : `${here} is ${describeValue(next)}, not ${nextIsIndex ? 'a list' : 'a map'}`,
      );
    }
    cur = next;
  }
  return cur as Record<string, unknown>;
}

function describeValue(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (isMap(v)) return 'a map';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function applyPath(obj: KubeObject, p: TransformPath, field: string): void {
  const parsed = parseTransformPath(p.path);
  if (!parsed.ok) throw new TransformationError(`${field}.path`, p.path, parsed.message);
  const steps = parsed.value;
  const last = steps[steps.length - 1] as string;
  const fail = (message: string): never => {
    throw new TransformationError(
      `${field}.path`,
      p.path,
      `cannot ${p.operation} it on ${describe(obj)}: ${message}`,
    );
  };
  if (p.operation === 'delete') {
    const parent = parentOf(obj, steps, false, fail);
    if (parent) delete parent[last];
    return;
  }
  const type = p.type as TransformValueType;
  const value = parseTransformValue(p.value ?? '', type);
  if (!value.ok) throw new TransformationError(`${field}.value`, p.value, value.message);
  const parent = parentOf(obj, steps, true, fail)!;
  const current = parent[last];
  if (p.operation === 'modify' && type === 'keypair') {
    if (!isMap(current)) {
      fail(
        current === undefined || current === null
          ? `there is no map at ${p.path} to merge into (use add to create it)`
          : `${p.path} is ${describeValue(current)}, not a map`,
      );
    }
    parent[last] = { ...(current as Record<string, unknown>), ...(value.value as Record<string, string>) };
  } else if (p.operation === 'modify' && type === 'slice') {
    if (current !== undefined && current !== null && !Array.isArray(current))
      fail(`${p.path} is ${describeValue(current)}, not a list`);
    parent[last] = [...((current as unknown[] | null | undefined) ?? []), ...(value.value as string[])];
  } else {
    parent[last] = value.value;
  }
}

/**
 * Applies the transformations (each a ResourceTransformation's `specs`), in order, to a copy of
 * `obj`. `applied` lists what changed it, one `<resource> <operation> <path>` per path applied.
 */
export function applyTransformations(
  obj: KubeObject,
  transformations: ResourceTransformationSpec[],
): { object: KubeObject; applied: string[] } {
  transformations.forEach((t, i) => {
    const [problem] = validateTransformationSpec(t);
    if (problem) {
      throw new TransformationError(
        `transformations[${i}].${formatPath(problem.path)}`,
        problem.value,
        problem.message,
      );
    }
  });
  const object = cloneJson(obj);
  const applied: string[] = [];
  transformations.forEach((t, i) => {
    t.transformSpecs.forEach((spec, j) => {
      if (!selects(spec, object)) return;
      spec.paths.forEach((p, k) => {
        applyPath(object, p, `transformations[${i}].transformSpecs[${j}].paths[${k}]`);
        applied.push(`${spec.resource} ${p.operation} ${p.path}`);
      });
    });
  });
  if (applied.length > 0) {
    const meta = isMap(object['metadata']) ? object['metadata'] : (object['metadata'] = {});
    const annotations = isMap(meta['annotations']) ? meta['annotations'] : (meta['annotations'] = {});
    annotations[TRANSFORMED_ANNOTATION] = 'true';
  }
  return { object, applied };
}
