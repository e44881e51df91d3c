// Projects by what their tests need:
//   unit         nothing but the code under test (pure functions, table and property tests)
//   agents       real Ferry storage agents, which each test starts itself (test/harness/agents.ts)
//   integration  a real Temporal dev server and real kube-apiservers, started once per run by the
//                harness (global setup) and shared by every test of the project
//   faults       production-shaped Temporal (Temporal Server on PostgreSQL) and two API-only clusters,
//                which each test file starts in beforeAll; kills and restarts them on purpose
// Jest runs a project's globalSetup only when one of its tests is selected, so
// `npm test -- --selectProjects unit` starts no server.
const swc = [
  '@swc/jest',
  {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'es6' },
    sourceMaps: 'inline',
  },
];
const common = {
  testEnvironment: 'node',
  // Servers' state (etcd's *.snap files look like jest snapshots) and build output are not tests.
  modulePathIgnorePatterns: ['<rootDir>/.ferry/', '<rootDir>/dist/'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
};

export default {
  testTimeout: 60_000,
  reporters: ['default', '<rootDir>/test/harness/log-reporter.js'],
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...common, displayName: 'agents', testMatch: ['<rootDir>/test/agents/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/harness/global-setup.js',
      globalTeardown: '<rootDir>/test/harness/global-teardown.js',
      setupFiles: ['<rootDir>/test/harness/temporal-quiet.ts'],
    },
    { ...common, displayName: 'faults', testMatch: ['<rootDir>/test/faults/**/*.test.ts'] },
  ],
};
