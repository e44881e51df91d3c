// kubectl describe's layout for a custom resource, pure: camelCase keys as Title Case words
// (`schedulePolicyName` → `Schedule Policy Name`), values aligned per map, nested maps indented by
// two, lists of scalars one per line, lists of maps one map after another, null as `<nil>`, an
// empty map or list as `<none>`, then
// the Events table (`Type Reason Age From Message`, repeated events as `4m (x53 over 2h)`).

import { age } from './columns.js';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** `creationTimestamp` → `Creation Timestamp`, `uid` → `UID`, `apiVersion` → `API Version`. */
export function titleCase(key: string): string {
  const special: Record<string, string> = { uid: 'UID', apiVersion: 'API Version' };
  if (special[key]) return special[key]!;
  const words = key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').split(/[\s_]+/);
  return words.map((w) => (w ? w[0]!.toUpperCase() + w.slice(1) : w)).join(' ');
}

const scalar = (v: unknown): string => (v === null || v === undefined ? '<nil>' : String(v));

/** The lines of a map at `indent` spaces, the values printed on their key's line aligned. */
export function describeMap(map: Obj, indent = 0): string[] {
  const pad = ' '.repeat(indent);
  const keys = Object.keys(map);
  const inline = (v: unknown) =>
    isObj(v) ? Object.keys(v).length === 0 : Array.isArray(v) ? v.length === 0 : true;
  const width = Math.max(0, ...keys.filter((k) => inline(map[k])).map((k) => titleCase(k).length + 1));
  const lines: string[] = [];
  for (const key of keys) {
    const v = map[key];
    const title = `${titleCase(key)}:`;
    if (isObj(v)) {
      if (Object.keys(v).length === 0) lines.push(`${pad}${title.padEnd(width)}  <none>`);
      else lines.push(`${pad}${title}`, ...describeMap(v, indent + 2));
    } else if (Array.isArray(v) && v.length === 0) {
      lines.push(`${pad}${title.padEnd(width)}  <none>`);
    } else if (Array.isArray(v)) {
      lines.push(`${pad}${title}`);
      for (const item of v) {
        if (isObj(item)) lines.push(...describeMap(item, indent + 2));
        else lines.push(`${pad}  ${scalar(item)}`);
      }
    } else lines.push(`${pad}${title.padEnd(width)}  ${scalar(v)}`.trimEnd());
  }
  return lines;
}

/** Labels or annotations as kubectl prints them in the header: `k=v` per line, `<none>` empty. */
function keyValues(title: string, map: unknown): string[] {
  const entries = isObj(map) ? Object.entries(map) : [];
  const head = `${title}:`.padEnd(14);
  if (entries.length === 0) return [`${head}<none>`];
  return entries.map(([k, v], i) => `${i === 0 ? head : ' '.repeat(14)}${k}=${String(v)}`);
}

export interface EventLike {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  firstTimestamp?: string | null;
  lastTimestamp?: string | null;
  eventTime?: string | null;
  source?: { component?: string };
  reportingComponent?: string;
  metadata?: { creationTimestamp?: string };
}

/** The Events section: oldest first, as kubectl sorts them. */
export function describeEvents(events: readonly EventLike[], now: number): string[] {
  if (events.length === 0) return ['Events:  <none>'];
  const last = (e: EventLike) => e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? '';
  const first = (e: EventLike) => e.firstTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? '';
  const sorted = [...events].sort((a, b) => Date.parse(last(a)) - Date.parse(last(b)));
  const rows = sorted.map((e) => [
    e.type ?? '',
    e.reason ?? '',
    (e.count ?? 1) > 1 ? `${age(last(e), now)} (x${e.count} over ${age(first(e), now)})` : age(last(e), now),
    e.source?.component || e.reportingComponent || '',
    e.message ?? '',
  ]);
  const header = ['Type', 'Reason', 'Age', 'From', 'Message'];
  const all = [header, header.map((h) => '-'.repeat(h.length)), ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => r[c]!.length)) + 2);
  return [
    'Events:',
    ...all.map(
      (r) => `  ${r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('')}`,
    ),
  ];
}

/** The whole description: header, metadata, spec, status, extra sections, Events. */
export function describeObject(
  object: Obj,
  events: readonly EventLike[],
  now: number,
  extra: Obj = {},
): string {
  const meta = isObj(object['metadata']) ? object['metadata'] : {};
  const { name, namespace, labels, annotations, managedFields: _m, ...restMeta } = meta;
  const lines = [
    `${'Name:'.padEnd(14)}${scalar(name)}`,
    ...(namespace !== undefined ? [`${'Namespace:'.padEnd(14)}${scalar(namespace)}`] : []),
    ...keyValues('Labels', labels),
    ...keyValues('Annotations', annotations),
    ...describeMap({ apiVersion: object['apiVersion'], kind: object['kind'] }),
    ...describeMap({ metadata: restMeta }),
  ];
  const body: Obj = {};
  for (const [k, v] of Object.entries(object))
    if (!['apiVersion', 'kind', 'metadata'].includes(k)) body[k] = v;
  lines.push(...describeMap({ ...body, ...extra }), ...describeEvents(events, now));
  return `${lines.join('\n')}\n`;
}
