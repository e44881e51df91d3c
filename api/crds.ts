// CustomResourceDefinition manifests (apiextensions.k8s.io/v1), generated from the kinds'
// schemas: structural openAPIV3Schema, status subresource where the kind has a status, printer
// columns, scope and names. The test harness installs crdManifests() into kube-apiservers;
// deploy/crds/ holds the same, written by `npm run gen:crds` (api/crds-generate.ts).

import { API_GROUP, API_VERSION } from './kinds/meta.js';
import { KINDS, type KindInfo } from './kinds/registry.js';
import type { OpenApiSchema } from './schema/index.js';
import { toYaml } from './yaml-io.js';

export function crdManifest(info: KindInfo): Record<string, unknown> {
  const schema = info.schema.openApi();
  const properties = { ...(schema['properties'] as Record<string, OpenApiSchema>) };
  // At the root the apiserver fixes apiVersion, kind and metadata; only their type may be given.
  properties['apiVersion'] = {
    type: 'string',
    description: 'APIVersion of this representation of the object.',
  };
  properties['kind'] = { type: 'string', description: 'Kind of the object.' };
  properties['metadata'] = { type: 'object' };
  const openAPIV3Schema: OpenApiSchema = { ...schema, properties };
  // apiVersion and kind are filled in by the apiserver, so they are not required in storage.
  openAPIV3Schema['required'] = ((schema['required'] as string[] | undefined) ?? []).filter(
    (r) => r !== 'apiVersion' && r !== 'kind' && r !== 'metadata',
  );
  if ((openAPIV3Schema['required'] as string[]).length === 0) delete openAPIV3Schema['required'];

  const version: Record<string, unknown> = {
    name: API_VERSION,
    served: true,
    storage: true,
    schema: { openAPIV3Schema },
  };
  if (info.hasStatus) version['subresources'] = { status: {} };
  version['additionalPrinterColumns'] = info.printerColumns.map((c) => ({ ...c }));

  const names: Record<string, unknown> = {
    kind: info.kind,
    listKind: `${info.kind}List`,
    plural: info.plural,
    singular: info.singular,
  };
  if (info.shortNames.length > 0) names['shortNames'] = [...info.shortNames];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${info.plural}.${API_GROUP}` },
    spec: { group: API_GROUP, names, scope: info.scope, versions: [version] },
  };
}

/** Every CRD of the API group, in a fixed order. */
export function crdManifests(): Record<string, unknown>[] {
  return KINDS.map(crdManifest);
}

/** The files of deploy/crds/: `<plural>.<group>.yaml` and its text. */
export function renderCrdFiles(): Array<{ file: string; text: string }> {
  return KINDS.map((info) => ({
    file: `${info.plural}.${API_GROUP}.yaml`,
    text:
      `# Generated from api/kinds/ by \`npm run gen:crds\` (api/crds-generate.ts). Do not edit.\n` +
      toYaml(crdManifest(info)),
  }));
}
