// The v1alpha1 API of stork.libopenstorage.org as Ferry speaks it.
export * from './kinds/meta.js';
export * from './kinds/cluster-pair.js';
export * from './kinds/schedule-policy.js';
export * from './kinds/migration.js';
export * from './kinds/migration-schedule.js';
export * from './kinds/rule.js';
export * from './kinds/resource-transformation.js';
export * from './kinds/registry.js';
export * from './policy-values.js';
export * from './transform-values.js';
export * from './validate.js';
export * from './yaml-io.js';
export * from './crds.js';
export { formatPath, type PathSegment, type SchemaIssue, type Severity } from './schema/index.js';
export * from './go-duration.js';
