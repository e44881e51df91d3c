// deploy/samples/postgres.yaml for migration tests on real nodes: the sample in a namespace of the
// test's own, its PV a volume of the source agent, and the two things every such test does with
// it: wait for postgres-0 to be Ready on a cluster, and run SQL there through kubectl exec.
import type { ClusterName, DrWorld } from './dr-world.js';
import { eventually } from './eventually.js';

export { postgresSampleYaml } from '../../localenv/postgres.js';

export function postgresIn(world: () => DrWorld, ns: string) {
  return {
    ready: (cluster: ClusterName) =>
      eventually(
        `postgres-0 Ready on ${cluster}`,
        async () => {
          const pod = (await world().kube[cluster].request(
            'GET',
            `/api/v1/namespaces/${ns}/pods/postgres-0`,
          )) as {
            status?: { conditions?: Array<{ type: string; status: string }> };
          };
          return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
            ? true
            : undefined;
        },
        120_000,
        500,
      ),
    psql: async (cluster: ClusterName, sql: string) =>
      (
        await world().kubectl(cluster, [
          '-n',
          ns,
          'exec',
          'postgres-0',
          '-c',
          'postgres',
          '--',
          'psql',
          '-h',
          '/tmp',
          '-U',
          'postgres',
          '-tAc',
          sql,
        ])
      ).trim(),
  };
}
