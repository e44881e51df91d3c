// The agent's node flags are named twice, in datapath/agent/node-flags.ts (local agents) and in
// deploy/agent.yaml's container command (clusters): they must stay the same.
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { AGENT_NODE_FLAGS } from '../../../datapath/agent/node-flags.js';
import { repoRoot } from '../../../localenv/paths.js';

it('deploy/agent.yaml starts the agent with the same node flags as local agents', () => {
  const docs = parseAllDocuments(fs.readFileSync(path.join(repoRoot(), 'deploy', 'agent.yaml'), 'utf8'));
  interface Container {
    name: string;
    command?: string[];
    args: string[];
  }
  type DaemonSet = { kind: string; spec: { template: { spec: { containers: Container[] } } } };
  const ds = docs.map((d) => d.toJS() as DaemonSet).find((d) => d?.kind === 'DaemonSet');
  const agent = ds?.spec.template.spec.containers.find((c) => c.name === 'agent') as Container;
  expect(agent.command).toEqual(['node', ...AGENT_NODE_FLAGS, '/app/dist/workers/ferry.js']);
  expect(agent.args[0]).toBe('agent');
  expect(AGENT_NODE_FLAGS).toContain('--initial-old-space-size=64');
});
