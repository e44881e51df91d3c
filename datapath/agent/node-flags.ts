// The node flags the storage agent process runs with: localenv/agents.ts starts every local agent
// (tests, benchmarks, `npm run up`) with them, and deploy/agent.yaml's container command names them
// (a unit test keeps the two equal). They cannot be set from inside the process (the heap is
// sized when it starts) nor through NODE_OPTIONS (node refuses this one there).
//
// --initial-old-space-size=64: an agent moving a volume allocates short-lived objects per chunk
// and per TLS record, and with V8's small default starting old generation (a few MB above what
// the agent's code occupies) it ran a full mark-compact every 30-100 ms of a transfer: 27-33 in a
// 512 MiB full copy on the destination, 11-14 for the same uploads into an agent started
// in-process, against 1 for a bare https server feeding the same receive code (importing the
// agent's modules alone brought them back). Starting the old generation at 64 MiB (a limit, not
// memory taken) removes them. Measured on the 2-core reference VM (bench/datapath, interleaved):
// 512 MiB full copy 3.37-3.58 -> 3.16-3.17 s wall, 4.68-5.11 -> 4.17-4.34 CPU-s (3 runs each);
// 2 GiB 14.20 -> 12.57 s, 19.43 -> 16.78 CPU-s; the small scenarios and peak RSS unchanged.
export const AGENT_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];
