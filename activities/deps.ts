// What every activity of a worker shares: the cluster it protects and that cluster's agent.
import type { AgentEndpoint } from '../datapath/client.js';
import type { KubeClient } from './kube/client.js';

export interface ActivityDeps {
  /** The cluster the worker protects (migrations' source). */
  source: KubeClient;
  /** The source cluster's storage agent. */
  agent: AgentEndpoint;
}
