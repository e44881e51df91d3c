import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**', 'coverage/**', '.ferry/**'] },
  js.configs.recommended,
  {
    // Plain JS files (configs, jest hooks) run on Node.
    files: ['**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', globalThis: 'readonly' } },
  },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportDefaultDeclaration', message: 'No default exports (DESIGN.md).' },
      ],
    },
  },
  {
    // Jest requires default exports from these entry points.
    files: ['*.config.js', 'test/harness/global-*.js', 'test/harness/*-reporter.js'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    // resources/ holds pure object transformations: it may import api/ only (DESIGN.md layout),
    // and of Node only what computes without I/O (hashes, path arithmetic).
    files: ['resources/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', '!node:crypto', '!node:path', '@kubernetes/*', '@temporalio/*'],
              message: 'resources/ is pure: no I/O.',
            },
            { group: ['../*', '!../api', '!../api/**'], message: 'resources/ may import api/ only.' },
          ],
        },
      ],
    },
  },
  {
    // client/ (SDK and CLI) talks to Temporal, the clusters (kube/) and agents (datapath's client);
    // it never reaches into the worker's side: activities, workers, localenv. Workflow types only.
    files: ['client/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/activities/**', '**/workers/**', '**/localenv/**'],
              message: "client/ is the user's side: move what it needs below (kube/, api/, resources/).",
            },
            {
              group: ['**/workflows/**'],
              allowTypeImports: true,
              message: 'client/ may import workflow types only.',
            },
          ],
        },
      ],
    },
  },
  {
    // Workflows must stay deterministic: no Node APIs, no I/O, no wall clock.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            'node:*',
            'fs',
            'path',
            'crypto',
            '@kubernetes/*',
            '../activities/*.js',
            '!../activities/types.js',
          ],
        },
      ],
    },
  },
);
