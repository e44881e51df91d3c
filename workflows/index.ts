// Every workflow the Ferry worker runs; the worker bundles this file.
export * from './migration.js';
export * from './migration-schedule.js';
