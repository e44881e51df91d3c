// deploy/samples/postgres.yaml for migration tests on real nodes: the sample in a namespace of the
// test's own, its PV a volume of the source agent, and the two things every such test does with
// it: wait for postgres-0 to answer on a cluster, and run SQL there through kubectl exec (both
// localenv/postgres.ts's, which `npm run drill` uses too).
import { postgresOn } from '../../localenv/postgres.js';
import { harness } from './context.js';
import type { ClusterName, DrWorld } from './dr-world.js';

export { postgresSampleYaml } from '../../localenv/postgres.js';

export function postgresIn(world: () => DrWorld, ns: string) {
  const on = (cluster: ClusterName) =>
    postgresOn(harness().env.bins.kubectl!, world().kubeconfig(cluster), ns);
  return {
    ready: (cluster: ClusterName) => on(cluster).ready(),
    psql: (cluster: ClusterName, sql: string) => on(cluster).sql(sql),
  };
}
