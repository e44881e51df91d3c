// Two real agents over TLS on loopback, sharing a CA, in a temporary directory: a source (`src`)
// and a destination (`dst`), with a client each. `stop` stops both and removes the directory.
//
//   const p = await startAgentPair('rep', { dstArgs: ['--retain', '3'] });
//   await p.sc.replicate({ volume, destination: p.destination() });
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentClient } from '../../datapath/client/client.js';
import { startAgent, type AgentHandle } from '../../localenv/agents.js';
import { createCertAuthority } from '../../localenv/tls.js';

export interface AgentPair {
  dir: string;
  src: AgentHandle;
  dst: AgentHandle;
  sc: AgentClient;
  dc: AgentClient;
  /** The destination as a replication request names it. */
  destination(): { url: string; token: string; caCertPem: string };
  stop(): Promise<void>;
}

export async function startAgentPair(
  name: string,
  opts: { srcArgs?: string[]; dstArgs?: string[] } = {},
): Promise<AgentPair> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ferry-agents-${name}-`));
  const ca = await createCertAuthority(path.join(dir, 'ca'), 'ferry-test-ca');
  const [src, dst] = await Promise.all([
    startAgent({ dir: path.join(dir, 'src'), name: 'src', ca, args: opts.srcArgs ?? [] }),
    startAgent({ dir: path.join(dir, 'dst'), name: 'dst', ca, args: opts.dstArgs ?? [] }),
  ]);
  const sc = src.client();
  const dc = dst.client();
  return {
    dir,
    src,
    dst,
    sc,
    dc,
    destination: () => ({ url: dst.url, token: dst.token, caCertPem: dst.caCertPem }),
    async stop() {
      sc.close();
      dc.close();
      await Promise.all([src.stop(), dst.stop()]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
