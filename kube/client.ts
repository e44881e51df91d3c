// A small typed client over the Kubernetes REST API for activities: discovery, list, get,
// server-side apply, delete, status patches and Events, each call cancellable with an
// AbortSignal (an activity's cancellationSignal()). client-node supplies the kubeconfig loading
// and the TLS/auth options; the requests themselves are plain HTTPS, so generic objects of any
// kind (custom resources included) need no generated API class.
import { KubeConfig } from '@kubernetes/client-node';
import https from 'node:https';
import type { KubeObject, ResourceKind } from '../resources/objects.js';

export class KubeError extends Error {
  constructor(
    message: string,
    /** HTTP status, or 0 when the server could not be reached. */
    readonly code: number,
    readonly reason: string = '',
  ) {
    super(message);
    this.name = 'KubeError';
  }
  get notFound(): boolean {
    return this.code === 404;
  }
}

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface ListResult {
  items: KubeObject[];
  resourceVersion: string;
}

export const FIELD_MANAGER = 'ferry';

export class KubeClient {
  readonly server: string;
  private constructor(
    readonly kc: KubeConfig,
    private readonly defaultTimeoutMs: number,
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new KubeError('the kubeconfig has no current cluster', 0);
    this.server = cluster.server.replace(/\/+$/, '');
  }

  static fromKubeConfig(kc: KubeConfig, opts: { timeoutMs?: number } = {}): KubeClient {
    return new KubeClient(kc, opts.timeoutMs ?? 30_000);
  }

  /** From a kubeconfig's text (a ClusterPair's spec.config, or a file's content). */
  static fromString(config: string, opts: { timeoutMs?: number } = {}): KubeClient {
    const kc = new KubeConfig();
    kc.loadFromString(config);
    return KubeClient.fromKubeConfig(kc, opts);
  }

  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const options: https.RequestOptions = {
      method,
      headers: { accept: 'application/json' },
      timeout: opts.timeoutMs ?? this.defaultTimeoutMs,
    };
    await this.kc.applyToHTTPSOptions(options);
    const payload =
      opts.body === undefined
        ? undefined
        : typeof opts.body === 'string'
          ? opts.body
          : JSON.stringify(opts.body);
    if (payload !== undefined) {
      options.headers = {
        ...options.headers,
        'content-type': opts.contentType ?? 'application/json',
        'content-length': Buffer.byteLength(payload),
      };
    }
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = https.request(url, { ...options, signal: opts.signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeout} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.name === 'AbortError') reject(err);
        else reject(new KubeError(`cannot reach ${this.server}: ${err.code ?? err.message}`, 0));
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
    if (status >= 200 && status < 300) return (text ? JSON.parse(text) : undefined) as T;
    let message = text.trim();
    let reason = '';
    try {
      const s = JSON.parse(text) as { message?: string; reason?: string };
      message = s.message ?? message;
      reason = s.reason ?? '';
    } catch {
      // not a Status object
    }
    throw new KubeError(`${method} ${path}: ${status} ${message}`.trim(), status, reason);
  }

  /** GET /version: the check that a kubeconfig reaches its API server (Stork's pairing check). */
  serverVersion(signal?: AbortSignal): Promise<{ gitVersion: string }> {
    return this.request('GET', '/version', { signal, timeoutMs: 10_000 });
  }

  /** Every kind the server serves, and each group's preferred version. */
  async discover(signal?: AbortSignal): Promise<{ kinds: ResourceKind[]; preferred: Map<string, string> }> {
    const kinds: ResourceKind[] = [];
    const preferred = new Map<string, string>([['', 'v1']]);
    const groups = await this.request<{
      groups: Array<{
        name: string;
        versions: Array<{ version: string }>;
        preferredVersion?: { version: string };
      }>;
    }>('GET', '/apis', { signal });
    const lists: Array<{ group: string; version: string; path: string }> = [
      { group: '', version: 'v1', path: '/api/v1' },
    ];
    for (const g of groups.groups) {
      if (g.preferredVersion) preferred.set(g.name, g.preferredVersion.version);
      for (const v of g.versions)
        lists.push({ group: g.name, version: v.version, path: `/apis/${g.name}/${v.version}` });
    }
    await Promise.all(
      lists.map(async (l) => {
        const list = await this.request<{
          resources: Array<{ name: string; kind: string; namespaced: boolean; verbs: string[] }>;
        }>('GET', l.path, { signal }).catch((err: unknown) => {
          // An aggregated API that is down (503) must not hide every other kind.
          if (err instanceof KubeError && err.code === 503) return { resources: [] };
          throw err;
        });
        for (const r of list.resources) {
          if (r.name.includes('/')) continue; // subresources
          if (!r.verbs.includes('list') || !r.verbs.includes('create')) continue;
          kinds.push({
            group: l.group,
            version: l.version,
            kind: r.kind,
            plural: r.name,
            namespaced: r.namespaced,
          });
        }
      }),
    );
    return { kinds, preferred };
  }

  static path(
    kind: Pick<ResourceKind, 'group' | 'version' | 'plural' | 'namespaced'>,
    namespace?: string,
    name?: string,
  ): string {
    let p = kind.group ? `/apis/${kind.group}/${kind.version}` : `/api/${kind.version}`;
    if (kind.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
    p += `/${kind.plural}`;
    if (name) p += `/${encodeURIComponent(name)}`;
    return p;
  }

  /** Lists every object (paging 500 at a time); `namespace` empty lists across namespaces. */
  async list(
    kind: ResourceKind,
    namespace?: string,
    opts: { labelSelector?: string; signal?: AbortSignal } = {},
  ): Promise<ListResult> {
    const items: KubeObject[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.request<{
        items: KubeObject[];
        metadata: { continue?: string; resourceVersion?: string };
      }>('GET', KubeClient.path(kind, namespace), {
        query: { limit: 500, continue: cont, labelSelector: opts.labelSelector },
        signal: opts.signal,
      });
      for (const item of page.items)
        items.push({
          apiVersion: kind.group ? `${kind.group}/${kind.version}` : kind.version,
          kind: kind.kind,
          ...item,
        });
      cont = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion ?? '';
    } while (cont);
    return { items, resourceVersion };
  }

  async get(
    kind: ResourceKind,
    namespace: string | undefined,
    name: string,
    signal?: AbortSignal,
  ): Promise<KubeObject | undefined> {
    try {
      return await this.request<KubeObject>('GET', KubeClient.path(kind, namespace, name), { signal });
    } catch (err) {
      if (err instanceof KubeError && err.notFound) return undefined;
      throw err;
    }
  }

  /** Server-side apply, forcing ownership of the fields Ferry sets. */
  apply(kind: ResourceKind, object: KubeObject, signal?: AbortSignal): Promise<KubeObject> {
    return this.request('PATCH', KubeClient.path(kind, object.metadata?.namespace, object.metadata?.name), {
      body: object,
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: FIELD_MANAGER, force: true },
      signal,
    });
  }

  /** JSON merge patch of an object or of one of its subresources ("status"). */
  mergePatch(
    kind: ResourceKind,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    opts: { subresource?: string; signal?: AbortSignal } = {},
  ): Promise<KubeObject> {
    const p = KubeClient.path(kind, namespace, name) + (opts.subresource ? `/${opts.subresource}` : '');
    return this.request('PATCH', p, {
      body: patch,
      contentType: 'application/merge-patch+json',
      signal: opts.signal,
    });
  }

  async create(kind: ResourceKind, object: KubeObject, signal?: AbortSignal): Promise<KubeObject> {
    return this.request('POST', KubeClient.path(kind, object.metadata?.namespace), { body: object, signal });
  }

  /** Deletes; true when it existed. Background propagation, as kubectl does. */
  async delete(
    kind: ResourceKind,
    namespace: string | undefined,
    name: string,
    signal?: AbortSignal,
  ): Promise<boolean> {
    try {
      await this.request('DELETE', KubeClient.path(kind, namespace, name), {
        body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' },
        signal,
      });
      return true;
    } catch (err) {
      if (err instanceof KubeError && err.notFound) return false;
      throw err;
    }
  }
}

/** Well-known kinds, so callers need no discovery for them. */
export const KINDS = {
  namespace: { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false },
  pod: { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true },
  pvc: {
    group: '',
    version: 'v1',
    kind: 'PersistentVolumeClaim',
    plural: 'persistentvolumeclaims',
    namespaced: true,
  },
  pv: { group: '', version: 'v1', kind: 'PersistentVolume', plural: 'persistentvolumes', namespaced: false },
  event: { group: '', version: 'v1', kind: 'Event', plural: 'events', namespaced: true },
  crd: {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    kind: 'CustomResourceDefinition',
    plural: 'customresourcedefinitions',
    namespaced: false,
  },
} satisfies Record<string, ResourceKind>;
