import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

/**
 * Bundles workflow code for the Temporal worker's sandbox. Sources are ESM TypeScript that import
 * siblings as `./x.js`; webpack is told that such a `.js` may be the `.ts` file beside it, so the
 * same code bundles from the checkout (tests) and from dist/ (the installed worker).
 */
export async function bundleWorkflows(workflowsPath: string): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({
    workflowsPath,
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error },
    webpackConfigHook: (config) => ({
      ...config,
      resolve: { ...config.resolve, extensionAlias: { '.js': ['.ts', '.js'] } },
    }),
  });
}
