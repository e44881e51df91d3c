// Jest global teardown of the `integration` project: stops every server the setup started. The
// env dir (logs, kubeconfigs) is kept for inspection until the next run replaces it.
export default async function globalTeardown() {
  const env = globalThis.__ferryEnvironment;
  if (!env) return;
  const t0 = Date.now();
  await env.stop();
  globalThis.__ferryEnvironment = undefined;
  process.stderr.write(
    `[harness] stopped servers in ${((Date.now() - t0) / 1000).toFixed(1)} s; logs kept in ${env.state.dir}\n`,
  );
}
