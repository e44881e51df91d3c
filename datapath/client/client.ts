// Typed client for the storage agent API (see agent-api.ts for the routes). Used by activities to
// drive agents, by the benchmarks and tests, and by a source agent to talk to a destination agent.
//
//   const c = new AgentClient({ url: 'https://127.0.0.1:9001', token, caCertPem });
//   const r = await c.startReplication({ volume: 'pv-1', destination: { url, token, caCertPem }, mode: 'DisasterRecovery' });
//   const done = await c.waitForReplication(r.id, { onProgress: (s) => console.log(s.bytesDone, s.bytesTotal, s.etaSeconds) });
//
// An AgentClient is the control port's calls (control.ts) and the data port's (data.ts) over one
// connection pool (http.ts); what its calls throw is in errors.ts. Import all of it from here.
import { AgentControl } from './control.js';
import { AgentData, type ChunkUpload } from './data.js';
import { AgentHttp, type AgentEndpoint, type ClientOptions } from './http.js';
import type { HashAlgorithm } from '../store/hash.js';

export { AgentApiError, AgentUnreachableError, ReplicationFailedError, isRetryable } from './errors.js';
export type { AgentEndpoint, ClientOptions } from './http.js';
export type { WaitOptions } from './control.js';
export type { ChunkUpload } from './data.js';

export class AgentClient extends AgentControl {
  readonly endpoint: AgentEndpoint;
  private readonly data: AgentData;

  constructor(endpoint: AgentEndpoint, opts: ClientOptions = {}) {
    const http = new AgentHttp(endpoint, opts);
    super(http);
    this.endpoint = http.endpoint;
    this.data = new AgentData(http);
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.http.close();
  }

  /** Which of `hashes` (32-byte SHA-256 each) the agent holds; with `verify`, re-hashed first. */
  hasChunks(
    hashes: Buffer[],
    opts: { verify?: boolean; session?: string; signal?: AbortSignal } = {},
  ): Promise<boolean[]> {
    return this.data.hasChunks(hashes, opts);
  }

  /** Opens a streaming chunk upload (frames of wire.ts) of chunks named by `hash`. */
  openChunkUpload(
    opts: { session?: string; hash?: HashAlgorithm; signal?: AbortSignal } = {},
  ): Promise<ChunkUpload> {
    return this.data.openChunkUpload(opts);
  }
}
