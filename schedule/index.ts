// Schedule-policy trigger math: pure, deterministic functions over luxon. `now` is always a
// parameter; nothing here reads a clock.
export * from './policy-types.js';
export * from './zone.js';
export * from './triggers.js';
export * from './due.js';
export * from './next-triggers.js';
export * from './names.js';
