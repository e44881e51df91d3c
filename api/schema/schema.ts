// A small schema DSL. One schema per kind (api/kinds/) is the single source of:
//   * the TypeScript types     InOf<S> (as written by a user) and OutOf<S> (after defaults),
//   * runtime validation       schema.validate(value) -> issues with field paths,
//   * defaults                 schema.applyDefaults(value),
//   * the CRD openAPIV3Schema  schema.openApi() (structural: every node typed).
// Semantics follow a structural CRD in kube-apiserver: unknown fields are errors (not pruned
// silently), and `null` in a non-nullable field means "unset" (the apiserver prunes it).

import { closest, quote, typeName, type PathSegment, type SchemaIssue } from './issues.js';

/** An OpenAPI v3 schema node as it appears in a CRD. */
export type OpenApiSchema = { [key: string]: unknown };

/** Handed to custom checks: paths are relative to the checked value. */
export interface Reporter {
  error(message: string, at?: PathSegment[]): void;
  warning(message: string, at?: PathSegment[]): void;
}

export interface CommonOpts<T> {
  description?: string;
  default?: T;
  /** `null` is a value (kept, typed as null) rather than "unset". */
  nullable?: boolean;
  /** Extra rule, run when the value has the right type. Not expressible in the CRD. */
  check?: (value: T, report: Reporter) => void;
}

export abstract class Schema<In, Out = In, D extends boolean = false> {
  declare readonly __in: In;
  declare readonly __out: Out;
  declare readonly __hasDefault: D;
  abstract readonly type: string;

  protected constructor(protected readonly opts: CommonOpts<never>) {}

  get description(): string | undefined {
    return this.opts.description;
  }
  get defaultValue(): unknown {
    return this.opts.default;
  }
  get nullable(): boolean {
    return this.opts.nullable === true;
  }

  /** Validates a present value (callers handle absence and null-as-unset). */
  validate(value: unknown, path: PathSegment[] = [], issues: SchemaIssue[] = []): SchemaIssue[] {
    if (value === null && this.nullable) return issues;
    const before = issues.filter((i) => i.severity === 'error').length;
    this.validateShape(value, path, issues);
    const after = issues.filter((i) => i.severity === 'error').length;
    const check = this.opts.check as ((v: unknown, r: Reporter) => void) | undefined;
    if (check && after === before) check(value, reporter(path, issues, value));
    return issues;
  }

  /** Returns a copy with defaults filled in and null-as-unset fields pruned. */
  applyDefaults(value: unknown): unknown {
    return value;
  }

  openApi(): OpenApiSchema {
    const node: OpenApiSchema = {};
    if (this.opts.description !== undefined) node['description'] = this.opts.description;
    node['type'] = this.type;
    Object.assign(node, this.openApiDetails());
    if (this.opts.default !== undefined) node['default'] = this.opts.default;
    if (this.nullable) node['nullable'] = true;
    return node;
  }

  protected abstract validateShape(value: unknown, path: PathSegment[], issues: SchemaIssue[]): void;
  protected openApiDetails(): OpenApiSchema {
    return {};
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnySchema = Schema<any, any, boolean>;
export type InOf<S extends AnySchema> = S['__in'];
export type OutOf<S extends AnySchema> = S['__out'];

function reporter(base: PathSegment[], issues: SchemaIssue[], value: unknown): Reporter {
  const at = (rel: PathSegment[] | undefined) => (rel ? [...base, ...rel] : base);
  const valueAt = (rel: PathSegment[] | undefined): unknown => {
    let v: unknown = value;
    for (const seg of rel ?? [])
      v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[seg] : undefined;
    return v;
  };
  return {
    error: (message, rel) => issues.push({ severity: 'error', path: at(rel), value: valueAt(rel), message }),
    warning: (message, rel) =>
      issues.push({ severity: 'warning', path: at(rel), value: valueAt(rel), message }),
  };
}

function wrongType(value: unknown, expected: string, path: PathSegment[], issues: SchemaIssue[]): void {
  let message = `${quote(value)} is not ${expected} (got ${typeName(value)})`;
  if (expected === 'a string' && (typeof value === 'number' || typeof value === 'boolean')) {
    message += `; quote it: "${String(value)}"`;
  }
  if (expected === 'a boolean' && typeof value === 'string')
    message += '; write true or false without quotes';
  issues.push({ severity: 'error', path, value, message });
}

/** Deep copy of a JSON value (no structuredClone: Temporal's workflow sandbox may lack it). */
function cloneJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cloneJson);
  if (isPlainObject(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, cloneJson(v)]));
  return value;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

// Builders infer the value type from `enum`/`nullable`, and whether a default exists from the
// type of `default` (never when absent), keeping callbacks out of inference so they stay typed.
type NullIf<N> = N extends true ? null : never;
type Has<DV> = [DV] extends [never] ? false : true;

// ---------------------------------------------------------------------------------------------
// Scalars

export interface StringOpts extends CommonOpts<string> {
  enum?: readonly string[];
  /** A regular expression valid in both JavaScript and the apiserver's Go RE2; anchored by you. */
  pattern?: string;
  /** Message for a value that fails `pattern` (or `enum`). */
  mismatch?: (value: string) => string;
  format?: 'date-time';
  minLength?: number;
  maxLength?: number;
}

export class StringSchema<T, D extends boolean> extends Schema<T, T, D> {
  readonly type = 'string';
  private readonly re: RegExp | undefined;
  constructor(private readonly s: StringOpts) {
    super(s as unknown as CommonOpts<never>);
    this.re = s.pattern === undefined ? undefined : new RegExp(s.pattern);
  }
  protected validateShape(value: unknown, path: PathSegment[], issues: SchemaIssue[]): void {
    if (typeof value !== 'string') return wrongType(value, 'a string', path, issues);
    const bad = (message: string): void => {
      issues.push({ severity: 'error', path, value, message });
    };
    if (this.s.enum && !this.s.enum.includes(value)) {
      return bad(
        this.s.mismatch?.(value) ??
          `${quote(value)} is not one of ${this.s.enum.map((e) => quote(e)).join(', ')}`,
      );
    }
    if (this.re && !this.re.test(value)) {
      return bad(this.s.mismatch?.(value) ?? `${quote(value)} does not match ${this.s.pattern}`);
    }
    if (this.s.format === 'date-time' && Number.isNaN(Date.parse(value))) {
      return bad(`${quote(value)} is not an RFC 3339 time (e.g. 2019-02-14T04:53:58Z)`);
    }
    if (this.s.minLength !== undefined && value.length < this.s.minLength) {
      return bad(
        this.s.minLength === 1 ? 'must not be empty' : `${quote(value)} is shorter than ${this.s.minLength}`,
      );
    }
    if (this.s.maxLength !== undefined && value.length > this.s.maxLength) {
      return bad(`${quote(value)} is longer than ${this.s.maxLength} characters`);
    }
  }
  protected override openApiDetails(): OpenApiSchema {
    const node: OpenApiSchema = {};
    if (this.s.format) node['format'] = this.s.format;
    if (this.s.enum) node['enum'] = [...this.s.enum];
    if (this.s.pattern) node['pattern'] = this.s.pattern;
    if (this.s.minLength !== undefined) node['minLength'] = this.s.minLength;
    if (this.s.maxLength !== undefined) node['maxLength'] = this.s.maxLength;
    return node;
  }
}

export function string<const E extends string = string, N extends boolean = false, DV extends string = never>(
  opts?: Omit<StringOpts, 'enum' | 'nullable' | 'default'> & {
    enum?: readonly E[];
    nullable?: N;
    default?: DV;
  },
): StringSchema<E | NullIf<N>, Has<DV>> {
  return new StringSchema((opts ?? {}) as StringOpts);
}

export interface IntOpts extends CommonOpts<number> {
  minimum?: number;
  maximum?: number;
  /** Message for a value outside [minimum, maximum]. */
  outOfRange?: (value: number) => string;
  format?: 'int32' | 'int64';
}

export class IntSchema<T, D extends boolean> extends Schema<T, T, D> {
  readonly type = 'integer';
  constructor(private readonly s: IntOpts) {
    super(s as unknown as CommonOpts<never>);
  }
  protected validateShape(value: unknown, path: PathSegment[], issues: SchemaIssue[]): void {
    if (typeof value !== 'number' || !Number.isInteger(value))
      return wrongType(value, 'an integer', path, issues);
    const { minimum, maximum } = this.s;
    if ((minimum !== undefined && value < minimum) || (maximum !== undefined && value > maximum)) {
      const range =
        minimum !== undefined && maximum !== undefined
          ? `between ${minimum} and ${maximum}`
          : minimum !== undefined
            ? `at least ${minimum}`
            : `at most ${maximum}`;
      const message = this.s.outOfRange?.(value) ?? `${value} is out of range: must be ${range}`;
      issues.push({ severity: 'error', path, value, message });
    }
  }
  protected override openApiDetails(): OpenApiSchema {
    const node: OpenApiSchema = {};
    if (this.s.format) node['format'] = this.s.format;
    if (this.s.minimum !== undefined) node['minimum'] = this.s.minimum;
    if (this.s.maximum !== undefined) node['maximum'] = this.s.maximum;
    return node;
  }
}

export function int<N extends boolean = false, DV extends number = never>(
  opts?: Omit<IntOpts, 'nullable' | 'default'> & { nullable?: N; default?: DV },
): IntSchema<number | NullIf<N>, Has<DV>> {
  return new IntSchema((opts ?? {}) as IntOpts);
}

export class BoolSchema<T, D extends boolean> extends Schema<T, T, D> {
  readonly type = 'boolean';
  constructor(s: CommonOpts<boolean>) {
    super(s as unknown as CommonOpts<never>);
  }
  protected validateShape(value: unknown, path: PathSegment[], issues: SchemaIssue[]): void {
    if (typeof value !== 'boolean') wrongType(value, 'a boolean', path, issues);
  }
}

export function bool<N extends boolean = false, DV extends boolean = never>(
  opts?: Omit<CommonOpts<boolean>, 'nullable' | 'default'> & { nullable?: N; default?: DV },
): BoolSchema<boolean | NullIf<N>, Has<DV>> {
  return new BoolSchema((opts ?? {}) as CommonOpts<boolean>);
}

// ---------------------------------------------------------------------------------------------
// Containers

export interface ArrayOpts<T = unknown> extends CommonOpts<T[]> {
  minItems?: number;
}

export class ArraySchema<I extends AnySchema> extends Schema<InOf<I>[], OutOf<I>[], false> {
  readonly type = 'array';
  constructor(
    readonly items: I,
    private readonly s: ArrayOpts<InOf<I>>,
  ) {
    super(s as unknown as CommonOpts<never>);
  }
  protected validateShape(value: unknown, path: PathSegment[], issues: SchemaIssue[]): void {
    if (!Array.isArray(value)) return wrongType(value, 'a list', path, issues);
    if (this.s.minItems !== undefined && value.length < this.s.minItems) {
      issues.push({
        severity: 'error',
        path,
        value,
        message: this.s.minItems === 1 ? 'must not be empty' : `must have at least ${this.s.minItems} items`,
      });
    }
    value.forEach((item, i) => {
      if (item === null && !this.items.nullable) {
        issues.push({
          severity: 'error',
          path: [...path, i],
          value: item,
          message: 'null is not allowed in this list',
        });
      } else this.items.validate(item, [...path, i], issues);
    });
  }
  override applyDefaults(value: unknown): unknown {
    return Array.isArray(value) ? value.map((v) => this.items.applyDefaults(v)) : value;
  }
  protected override openApiDetails(): OpenApiSchema {
    const node: OpenApiSchema = { items: this.items.openApi() };
    if (this.s.minItems !== undefined) node['minItems'] = this.s.minItems;
    return node;
  }
}

export function array<I extends AnySchema>(items: I, opts?: ArrayOpts<InOf<I>>): ArraySchema<I> {
  return new ArraySchema(items, opts ?? {});
}

export interface MapOpts<T = unknown> extends CommonOpts<Record<string, T>> {
  /** Entries added when absent (runtime only: a CRD default can only replace a whole map). */
  defaultEntries?: Record<string, unknown>;
}

/** A map with arbitrary keys and typed values (a Go map[string]T: `additionalProperties`). */
export class MapSchema<V extends AnySchema> extends Schema<
  Record<string, InOf<V>>,
  Record<string, OutOf<V>>,
  false
> {
  readonly type = 'object';
  constructor(
    readonly values: V,
    private readonly s: MapOpts<InOf<V>>,
  ) {
    super(s as unknown as CommonOpts<never>);
  }
  protected validateShape(value: unknown, path: PathSegment[], issues: SchemaIssue[]): void {
    if (!isPlainObject(value)) return wrongType(value, 'a map', path, issues);
    for (const [k, v] of Object.entries(value)) {
      if (v === null && !this.values.nullable) continue; // pruned like the apiserver does
      this.values.validate(v, [...path, k], issues);
    }
  }
  override applyDefaults(value: unknown): unknown {
    if (!isPlainObject(value)) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === null && !this.values.nullable) continue;
      out[k] = this.values.applyDefaults(v);
    }
    for (const [k, v] of Object.entries(this.s.defaultEntries ?? {})) if (!(k in out)) out[k] = v;
    return out;
  }
  protected override openApiDetails(): OpenApiSchema {
    return { additionalProperties: this.values.openApi() };
  }
}

export function map<V extends AnySchema>(values: V, opts?: MapOpts<InOf<V>>): MapSchema<V> {
  return new MapSchema(values, opts ?? {});
}

/** Free-form object content kept as written (CRD: x-kubernetes-preserve-unknown-fields). */
export class FreeObjectSchema extends Schema<Record<string, unknown>, Record<string, unknown>, false> {
  readonly type = 'object';
  constructor(s: CommonOpts<Record<string, unknown>>) {
    super(s as unknown as CommonOpts<never>);
  }
  protected validateShape(value: unknown, path: PathSegment[], issues: SchemaIssue[]): void {
    if (!isPlainObject(value)) wrongType(value, 'an object', path, issues);
  }
  protected override openApiDetails(): OpenApiSchema {
    return { 'x-kubernetes-preserve-unknown-fields': true };
  }
}

export function freeObject(opts?: CommonOpts<Record<string, unknown>>): FreeObjectSchema {
  return new FreeObjectSchema(opts ?? {});
}

type Props = Record<string, AnySchema>;
type Simplify<T> = { [K in keyof T]: T[K] } & unknown;
type DefaultedKeys<P extends Props> = {
  [K in keyof P]: P[K]['__hasDefault'] extends true ? K : never;
}[keyof P];
export type ObjectIn<P extends Props, R extends keyof P> = Simplify<
  { -readonly [K in R]: InOf<P[K]> } & { -readonly [K in Exclude<keyof P, R>]?: InOf<P[K]> }
>;
export type ObjectOut<P extends Props, R extends keyof P> = Simplify<
  { -readonly [K in R | DefaultedKeys<P>]: OutOf<P[K]> } & {
    -readonly [K in Exclude<keyof P, R | DefaultedKeys<P>>]?: OutOf<P[K]>;
  }
>;

export interface ObjectOpts<P extends Props, R extends keyof P & string> extends Omit<
  CommonOpts<never>,
  'check'
> {
  required?: readonly R[];
  /** Cross-field rule, run only when the object's own fields are free of errors. */
  check?: (value: ObjectIn<P, R>, report: Reporter) => void;
  /**
   * The fields `check` reads, when it reads only some: it then runs whenever those are free of
   * errors, so its error shows up together with the others' (every problem at once).
   */
  checkReads?: readonly (keyof P & string)[];
  /** Replaces the generated CRD node (e.g. `metadata`, which a CRD may not describe). */
  openApiOverride?: OpenApiSchema;
  /**
   * The apiserver's share of `check`: CEL rules written to the CRD as x-kubernetes-validations, so
   * kubectl refuses what the check refuses. Keep each rule and its message in step with `check`.
   */
  celRules?: readonly CelRule[];
}

/** One x-kubernetes-validations entry: a CEL expression over `self` and the message when false. */
export interface CelRule {
  rule: string;
  message: string;
}

export class ObjectSchema<P extends Props, R extends keyof P & string> extends Schema<
  ObjectIn<P, R>,
  ObjectOut<P, R>,
  false
> {
  readonly type = 'object';
  readonly required: readonly R[];
  constructor(
    readonly props: P,
    private readonly s: ObjectOpts<P, R>,
  ) {
    super(s as unknown as CommonOpts<never>);
    this.required = s.required ?? [];
  }
  override validate(value: unknown, path: PathSegment[] = [], issues: SchemaIssue[] = []): SchemaIssue[] {
    if (value === null && this.nullable) return issues;
    if (!isPlainObject(value)) {
      wrongType(value, 'an object', path, issues);
      return issues;
    }
    const start = issues.length;
    const names = Object.keys(this.props);
    for (const [k, v] of Object.entries(value)) {
      if (Object.hasOwn(this.props, k)) continue;
      const hint = closest(k, names);
      issues.push({
        severity: 'error',
        path: [...path, k],
        value: v,
        message: `unknown field${hint ? ` (did you mean "${hint}"?)` : ''}`,
      });
    }
    for (const [k, schema] of Object.entries(this.props)) {
      const v = value[k];
      const present = v !== undefined && (v !== null || schema.nullable);
      if (!present) {
        if ((this.required as readonly string[]).includes(k)) {
          issues.push({
            severity: 'error',
            path: [...path, k],
            value: v,
            message: 'required field is missing',
          });
        }
        continue;
      }
      schema.validate(v, [...path, k], issues);
    }
    const reads = this.s.checkReads;
    const counted = (i: SchemaIssue) =>
      i.severity === 'error' &&
      (reads === undefined ||
        (i.path.length > path.length && (reads as readonly PathSegment[]).includes(i.path[path.length]!)));
    const check = this.s.check as ((v: unknown, r: Reporter) => void) | undefined;
    if (check && !issues.slice(start).some(counted)) check(value, reporter(path, issues, value));
    return issues;
  }
  protected validateShape(): void {
    // validate() is overridden: objects need per-field handling.
  }
  override applyDefaults(value: unknown): unknown {
    if (!isPlainObject(value)) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const schema = this.props[k];
      if (!schema) out[k] = v;
      else if (v === undefined || (v === null && !schema.nullable)) continue;
      else out[k] = schema.applyDefaults(v);
    }
    for (const [k, schema] of Object.entries(this.props)) {
      if (out[k] === undefined && schema.defaultValue !== undefined) out[k] = cloneJson(schema.defaultValue);
    }
    return out;
  }
  override openApi(): OpenApiSchema {
    if (this.s.openApiOverride) return { ...this.s.openApiOverride };
    return super.openApi();
  }
  protected override openApiDetails(): OpenApiSchema {
    const properties: Record<string, OpenApiSchema> = {};
    for (const [k, schema] of Object.entries(this.props)) properties[k] = schema.openApi();
    const node: OpenApiSchema = { properties };
    if (this.required.length > 0) node['required'] = [...this.required];
    if (this.s.celRules && this.s.celRules.length > 0)
      node['x-kubernetes-validations'] = this.s.celRules.map((r) => ({ ...r }));
    return node;
  }
}

export function object<const P extends Props, const R extends keyof P & string = never>(
  props: P,
  opts?: ObjectOpts<P, R>,
): ObjectSchema<P, R> {
  return new ObjectSchema(props, opts ?? {});
}
