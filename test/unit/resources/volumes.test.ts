// Which volumes a migration replicates: the agent volume a PV's directory is (a direct child of the
// agent's volumes root with a valid name, nothing else), the path of a PV, and a PVC resolved to
// its PV with the reason when it cannot be migrated.
import fc from 'fast-check';
import type { KubeObject } from '../../../resources/objects.js';
import { agentVolumeFor, pvPath, resolveVolume } from '../../../resources/volumes.js';

const ROOT = '/var/lib/ferry/volumes';

/** POSIX lexical normalization of an absolute path (independent of node:path). */
function normalize(abs: string): string {
  const out: string[] = [];
  for (const seg of abs.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return `/${out.join('/')}`;
}

describe('agentVolumeFor', () => {
  it.each<[string, string, string, string | null]>([
    ['a direct child', `${ROOT}/pvc-1`, ROOT, 'pvc-1'],
    ['a direct child with dots, dashes, underscores', `${ROOT}/pvc_1.data-x`, ROOT, 'pvc_1.data-x'],
    ['a local-path-provisioner name', `${ROOT}/pvc-0a1b_db_data`, ROOT, 'pvc-0a1b_db_data'],
    ['trailing slash on the dir', `${ROOT}/pvc-1/`, ROOT, 'pvc-1'],
    ['trailing slash on the root', `${ROOT}/pvc-1`, `${ROOT}/`, 'pvc-1'],
    ['doubled slashes', `${ROOT}//pvc-1`, ROOT, 'pvc-1'],
    ['a "." segment', `${ROOT}/./pvc-1`, ROOT, 'pvc-1'],
    ['out and back in', `${ROOT}/../volumes/pvc-1`, ROOT, 'pvc-1'],
    ['the root itself', ROOT, ROOT, null],
    ['the root with a trailing slash', `${ROOT}/`, ROOT, null],
    ['the root via ".."', `${ROOT}/pvc-1/..`, ROOT, null],
    ['nested', `${ROOT}/pvc-1/data`, ROOT, null],
    ['the parent', '/var/lib/ferry', ROOT, null],
    ['a sibling', '/var/lib/ferry/other/pvc-1', ROOT, null],
    ['escaping with ..', `${ROOT}/../pvc-1`, ROOT, null],
    ['a prefix that is not a parent', `${ROOT}-evil/pvc-1`, ROOT, null],
    ['elsewhere', '/tmp/pvc-1', ROOT, null],
    ['a name starting with a dot', `${ROOT}/.hidden`, ROOT, null],
    ['a name starting with "..x"', `${ROOT}/..x`, ROOT, null],
    ['a name starting with a dash', `${ROOT}/-x`, ROOT, null],
    ['a name with a space', `${ROOT}/pvc 1`, ROOT, null],
    ['a name with a colon', `${ROOT}/pvc:1`, ROOT, null],
    ['a name with non-ASCII', `${ROOT}/pvc-é`, ROOT, null],
    ['a 128-character name', `${ROOT}/${'a'.repeat(128)}`, ROOT, 'a'.repeat(128)],
    ['a 129-character name', `${ROOT}/${'a'.repeat(129)}`, ROOT, null],
    ['a one-character name', `${ROOT}/a`, ROOT, 'a'],
    ['root "/"', '/pvc-1', '/', 'pvc-1'],
  ])('%s: %p under %p -> %p', (_name, dir, root, want) => {
    expect(agentVolumeFor(dir, root)).toBe(want);
  });

  const name = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,40}$/);
  it('finds any valid name directly under the root, and no deeper path', () => {
    fc.assert(
      fc.property(name, name, (a, b) => {
        expect(agentVolumeFor(`${ROOT}/${a}`, ROOT)).toBe(a);
        expect(agentVolumeFor(`${ROOT}/${a}/`, `${ROOT}/`)).toBe(a);
        expect(agentVolumeFor(`${ROOT}/${a}/${b}`, ROOT)).toBeNull();
        expect(agentVolumeFor(`${ROOT}/${a}/${b}/..`, ROOT)).toBe(a);
      }),
    );
  });

  it('names exactly the direct children of the root, after normalization', () => {
    const segment = fc.constantFrom('..', '.', 'x', 'pvc-1', 'volumes', '', 'a..b');
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 5 }), (segments) => {
        const dir = `${ROOT}/${segments.join('/')}`;
        const v = agentVolumeFor(dir, ROOT);
        const n = normalize(dir);
        const child = n.startsWith(`${ROOT}/`) ? n.slice(ROOT.length + 1) : '';
        const want = /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(child) ? child : null;
        expect(v).toBe(want);
      }),
    );
  });
});

describe('pvPath', () => {
  it.each<[string, unknown, string | undefined]>([
    ['hostPath', { hostPath: { path: '/a' } }, '/a'],
    ['hostPath with a type', { hostPath: { path: '/a', type: 'DirectoryOrCreate' } }, '/a'],
    ['local', { local: { path: '/b', fsType: 'ext4' } }, '/b'],
    ['both: hostPath first', { local: { path: '/b' }, hostPath: { path: '/a' } }, '/a'],
    ['hostPath without a path, local with one', { hostPath: {}, local: { path: '/b' } }, '/b'],
    ['a non-string path', { hostPath: { path: 42 } }, undefined],
    ['csi', { csi: { driver: 'x', volumeHandle: 'h' } }, undefined],
    ['nfs', { nfs: { server: 's', path: '/exports/a' } }, undefined],
    ['no spec', undefined, undefined],
    ['a spec that is not an object', 'x', undefined],
  ])('%s -> %p', (_name, spec, want) => {
    expect(
      pvPath(spec === undefined ? { metadata: { name: 'pv' } } : { metadata: { name: 'pv' }, spec }),
    ).toBe(want);
  });
});

const pvc = (spec: Record<string, unknown> = {}, name = 'data', namespace = 'db'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name, namespace },
  spec: { accessModes: ['ReadWriteOnce'], ...spec },
});
const pv = (name: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'PersistentVolume',
  metadata: { name },
  spec: { capacity: { storage: '1Gi' }, ...spec },
});
const claimRef = (name: string, namespace: string) => ({ kind: 'PersistentVolumeClaim', name, namespace });

describe('resolveVolume', () => {
  const pvs = [
    pv('pvc-1', { hostPath: { path: `${ROOT}/pvc-1` }, claimRef: claimRef('data', 'db') }),
    pv('pvc-2', { local: { path: `${ROOT}/pvc-2` }, claimRef: claimRef('logs', 'db') }),
    pv('pvc-3', { hostPath: { path: `${ROOT}/pvc-3` }, claimRef: claimRef('data', 'other') }),
    pv('csi-1', { csi: { driver: 'ebs.csi.aws.com', volumeHandle: 'vol-1' } }),
    pv('nfs-1', { nfs: { server: 'nfs', path: '/exports/a' } }),
    pv('out-1', { hostPath: { path: '/mnt/elsewhere/out-1' } }),
    pv('nested-1', { hostPath: { path: `${ROOT}/pvc-9/data` } }),
    pv('flex-1', { flexVolume: { driver: 'x' } }),
  ];

  it.each<[string, KubeObject, Record<string, unknown>]>([
    ['by volumeName', pvc({ volumeName: 'pvc-1' }), { pv: 'pvc-1', volume: 'pvc-1' }],
    ['a local PV by volumeName', pvc({ volumeName: 'pvc-2' }, 'logs'), { pv: 'pvc-2', volume: 'pvc-2' }],
    [
      'volumeName wins over a claimRef naming the PVC',
      pvc({ volumeName: 'pvc-2' }),
      { pv: 'pvc-2', volume: 'pvc-2' },
    ],
    ['by claimRef when volumeName is empty', pvc({ volumeName: '' }), { pv: 'pvc-1', volume: 'pvc-1' }],
    ['by claimRef when volumeName is missing', pvc(), { pv: 'pvc-1', volume: 'pvc-1' }],
    ['claimRef matches the namespace too', pvc({}, 'data', 'other'), { pv: 'pvc-3', volume: 'pvc-3' }],
    ['PV missing', pvc({ volumeName: 'pvc-404' }), { error: 'PersistentVolume pvc-404 not found' }],
    ['unbound', pvc({}, 'fresh'), { error: 'not bound to a PersistentVolume' }],
    ['unbound in another namespace', pvc({}, 'logs', 'prod'), { error: 'not bound to a PersistentVolume' }],
  ])('%s', (_name, claim, want) => {
    const ref = resolveVolume(claim, pvs, ROOT);
    expect(ref).toEqual({ namespace: claim.metadata!.namespace, pvc: claim.metadata!.name, ...want });
  });

  it.each<[string, string]>([
    ['csi-1', 'csi'],
    ['nfs-1', 'nfs'],
    ['flex-1', 'unknown'],
  ])('a %s PV is an error naming its source %p', (name, source) => {
    const ref = resolveVolume(pvc({ volumeName: name }), pvs, ROOT);
    expect(ref.pv).toBe(name);
    expect(ref.volume).toBeUndefined();
    expect(ref.error).toContain(`PersistentVolume ${name}`);
    expect(ref.error).toContain(`volume source ${source} is not supported`);
  });

  it.each(['out-1', 'nested-1'])('a %s PV outside the root is an error naming the expected root', (name) => {
    const ref = resolveVolume(pvc({ volumeName: name }), pvs, ROOT);
    expect(ref.pv).toBe(name);
    expect(ref.volume).toBeUndefined();
    const path = pvPath(pvs.find((p) => p.metadata!.name === name)!);
    expect(ref.error).toBe(
      `PersistentVolume ${name}: path ${path} is not a volume of the source agent (expected ${ROOT}/<volume>)`,
    );
  });

  describe("a claimRef with a uid names one PVC only (a Released PV keeps its old claim's uid)", () => {
    const claimed = (name: string, uid: string | undefined) =>
      pv(name, {
        hostPath: { path: `${ROOT}/${name}` },
        claimRef: { ...claimRef('data', 'db'), ...(uid ? { uid } : {}) },
      });
    const withUid = (uid: string | undefined, spec: Record<string, unknown> = {}): KubeObject => {
      const c = pvc(spec);
      if (uid) c.metadata!.uid = uid;
      return c;
    };

    it.each<[string, KubeObject, KubeObject[], Record<string, unknown>]>([
      ['same uid', withUid('new'), [claimed('pv-new', 'new')], { pv: 'pv-new', volume: 'pv-new' }],
      [
        "a released PV of a deleted PVC of the same name is not this PVC's volume",
        withUid('new'),
        [claimed('pv-old', 'old')],
        { error: 'not bound to a PersistentVolume' },
      ],
      [
        'the released PV listed first, the pre-bound one after',
        withUid('new'),
        [claimed('pv-old', 'old'), claimed('pv-pre', undefined)],
        { pv: 'pv-pre', volume: 'pv-pre' },
      ],
      [
        'claimRef without a uid (pre-bound)',
        withUid('new'),
        [claimed('pv-pre', undefined)],
        { pv: 'pv-pre', volume: 'pv-pre' },
      ],
      [
        'a PVC without a uid',
        withUid(undefined),
        [claimed('pv-old', 'old')],
        { pv: 'pv-old', volume: 'pv-old' },
      ],
      [
        'volumeName is trusted whatever the claimRef uid',
        withUid('new', { volumeName: 'pv-old' }),
        [claimed('pv-old', 'old')],
        { pv: 'pv-old', volume: 'pv-old' },
      ],
    ])('%s', (_name, claim, list, want) => {
      expect(resolveVolume(claim, list, ROOT)).toEqual({ namespace: 'db', pvc: 'data', ...want });
    });
  });

  it('a PVC without spec or metadata is unbound, not a crash', () => {
    expect(resolveVolume({}, pvs, ROOT)).toEqual({
      namespace: '',
      pvc: '',
      error: 'not bound to a PersistentVolume',
    });
  });

  it('changes neither the PVC nor the PVs', () => {
    const claim = pvc({ volumeName: 'pvc-1' });
    const before = structuredClone([claim, pvs]);
    resolveVolume(claim, pvs, ROOT);
    resolveVolume(pvc(), pvs, ROOT);
    expect([claim, pvs]).toEqual(before);
  });
});
