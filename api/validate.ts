// Validation of manifests: one document -> typed, defaulted object or issues with field paths;
// a set of documents -> also cross-document warnings (a MigrationSchedule naming a policy that
// none of the documents defines: it may exist in the cluster, so only a warning).
//
// Issues print as `<Kind>/<name>: <field path>: <message>` (formatIssue).

import { GROUP_VERSION } from './kinds/meta.js';
import { KINDS, kindInfo, type KindName, type KnownObject } from './kinds/registry.js';
import {
  closest,
  formatPath,
  isPlainObject,
  quote,
  type PathSegment,
  type Severity,
} from './schema/index.js';
import type { RawDocument } from './yaml-io.js';

export interface ValidationIssue {
  severity: Severity;
  /** Where the document came from, when known. */
  source?: string;
  document?: number;
  line?: number;
  kind?: string;
  name?: string;
  path: PathSegment[];
  value: unknown;
  message: string;
}

export interface DocumentOrigin {
  source: string;
  index: number;
  line: number;
}

export interface ValidatedObject extends DocumentOrigin {
  object: KnownObject;
}

/** Thrown by parseObject/parseKind; carries every issue. */
export class ValidationError extends Error {
  constructor(readonly issues: ValidationIssue[]) {
    super(
      issues
        .filter((i) => i.severity === 'error')
        .map(formatIssue)
        .join('\n'),
    );
    this.name = 'ValidationError';
  }
}

export function formatIssue(issue: ValidationIssue): string {
  const name = issue.name ?? (issue.document !== undefined ? `(document ${issue.document})` : '(unnamed)');
  const ref = issue.kind !== undefined ? `${issue.kind}/${name}` : `document ${issue.document ?? 1}`;
  return issue.path.length === 0
    ? `${ref}: ${issue.message}`
    : `${ref}: ${formatPath(issue.path)}: ${issue.message}`;
}

const KIND_NAMES = KINDS.map((k) => k.kind);

/** Validates one manifest; on success returns it with defaults applied. */
export function validateObject(
  raw: unknown,
  origin?: DocumentOrigin,
): { object?: KnownObject; issues: ValidationIssue[] } {
  const issues: ValidationIssue[] = [];
  const at = {
    ...(origin ? { source: origin.source, document: origin.index, line: origin.line } : {}),
  };
  if (!isPlainObject(raw)) {
    issues.push({
      ...at,
      severity: 'error',
      path: [],
      value: raw,
      message: `a manifest must be an object, got ${quote(raw)}`,
    });
    return { issues };
  }
  const kind = typeof raw['kind'] === 'string' ? raw['kind'] : undefined;
  const meta = raw['metadata'];
  const name = isPlainObject(meta) && typeof meta['name'] === 'string' ? meta['name'] : undefined;
  const base = { ...at, ...(kind !== undefined ? { kind } : {}), ...(name !== undefined ? { name } : {}) };
  const error = (path: PathSegment[], value: unknown, message: string) =>
    issues.push({ ...base, severity: 'error', path, value, message });

  const info = kind === undefined ? undefined : kindInfo(kind);
  const apiVersion = raw['apiVersion'];
  if (raw['kind'] === undefined) error(['kind'], undefined, 'required field is missing');
  else if (!info) {
    const hint = typeof kind === 'string' ? closest(kind, KIND_NAMES) : undefined;
    error(
      ['kind'],
      raw['kind'],
      `${quote(raw['kind'])} is not a kind of ${GROUP_VERSION}` +
        (hint ? ` (did you mean "${hint}"?)` : ` (one of ${KIND_NAMES.join(', ')})`),
    );
  }
  if (apiVersion === undefined) error(['apiVersion'], undefined, 'required field is missing');
  else if (apiVersion !== GROUP_VERSION) {
    error(['apiVersion'], apiVersion, `${quote(apiVersion)} is not supported: use ${GROUP_VERSION}`);
  }
  if (!info || issues.length > 0) return { issues };

  for (const issue of info.schema.validate(raw)) issues.push({ ...base, ...issue });
  if (info.scope === 'Cluster' && isPlainObject(meta) && typeof meta['namespace'] === 'string') {
    issues.push({
      ...base,
      severity: 'warning',
      path: ['metadata', 'namespace'],
      value: meta['namespace'],
      message: `${quote(meta['namespace'])} is ignored: ${info.kind} is cluster-scoped`,
    });
  }
  if (issues.some((i) => i.severity === 'error')) return { issues };
  return { object: info.schema.applyDefaults(raw) as KnownObject, issues };
}

/**
 * Validates documents together: each one, `kind: List` expanded into its items, plus
 * cross-document warnings. Every issue of every document is returned; objects are those valid.
 */
export function validateDocuments(documents: readonly RawDocument[]): {
  objects: ValidatedObject[];
  issues: ValidationIssue[];
} {
  const objects: ValidatedObject[] = [];
  const issues: ValidationIssue[] = [];
  for (const doc of documents) {
    const origin = { source: doc.source, index: doc.index, line: doc.line };
    const v = doc.value;
    const items = isPlainObject(v) && v['kind'] === 'List' && Array.isArray(v['items']) ? v['items'] : [v];
    for (const item of items) {
      const result = validateObject(item, origin);
      issues.push(...result.issues);
      if (result.object) objects.push({ ...origin, object: result.object });
    }
  }
  issues.push(...crossDocumentWarnings(objects));
  return { objects, issues };
}

function crossDocumentWarnings(validated: ValidatedObject[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const objects = validated.map((v) => v.object);
  const cluster = objects.filter((o) => o.kind === 'SchedulePolicy').map((o) => o.metadata.name);
  for (const { object: o, source, index, line } of validated) {
    if (o.kind !== 'MigrationSchedule') continue;
    const ref = o.spec.schedulePolicyName;
    const ns = o.metadata.namespace;
    const namespaced = objects
      .filter((p) => p.kind === 'NamespacedSchedulePolicy' && p.metadata.namespace === ns)
      .map((p) => p.metadata.name);
    if (cluster.includes(ref) || namespaced.includes(ref)) continue;
    const hint = closest(ref, [...cluster, ...namespaced]);
    issues.push({
      severity: 'warning',
      source,
      document: index,
      line,
      kind: o.kind,
      name: o.metadata.name,
      path: ['spec', 'schedulePolicyName'],
      value: ref,
      message:
        `no SchedulePolicy ${quote(ref)} in the given files` +
        (hint ? ` (did you mean "${hint}"?)` : '') +
        '; it must exist in the cluster',
    });
  }
  return issues;
}

/** Validates and defaults one manifest, or throws ValidationError. */
export function parseObject(raw: unknown): KnownObject {
  const { object, issues } = validateObject(raw);
  if (!object) throw new ValidationError(issues);
  return object;
}

/** Like parseObject, and the manifest must be of the given kind. */
export function parseKind<K extends KindName>(kind: K, raw: unknown): Extract<KnownObject, { kind: K }> {
  const object = parseObject(raw);
  if (object.kind !== kind) {
    throw new ValidationError([
      {
        severity: 'error',
        kind: object.kind,
        name: object.metadata.name,
        path: ['kind'],
        value: object.kind,
        message: `expected ${kind}`,
      },
    ]);
  }
  return object as Extract<KnownObject, { kind: K }>;
}
