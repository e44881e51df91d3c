// The schema DSL: builders, inferred types and issue helpers.
export * from './issues.js';
export * from './schema.js';
