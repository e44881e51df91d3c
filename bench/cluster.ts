#!/usr/bin/env node
// `node dist/bench/cluster.js [--rounds N]`: start-up time and memory (RSS) of one local cluster in
// each of its three shapes: API only (etcd + kube-apiserver), with its control plane
// (+ kube-controller-manager, kube-scheduler), and with its node (+ containerd, kubelet). Each round
// starts a fresh environment of one cluster, takes the cluster's start time from localenv's own
// progress line and the RSS of each of its processes (plus containerd shims and pods) once up.
import { readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startEnvironment } from '../localenv/environment.js';

interface Shape {
  name: string;
  controlPlane: boolean;
  nodes: boolean;
}

const SHAPES: Shape[] = [
  { name: 'api only', controlPlane: false, nodes: false },
  { name: 'control plane', controlPlane: true, nodes: false },
  { name: 'control plane + node', controlPlane: true, nodes: true },
];

async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

/** Pids of processes whose command line contains `needle` (containerd shims of one node). */
async function pidsWith(needle: string): Promise<number[]> {
  const out: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const cmd = (await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ');
    if (cmd.includes(needle)) out.push(Number(d));
  }
  return out;
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 2;
  const base = path.join(os.tmpdir(), `ferry-bench-cluster-${process.pid}`);
  const rows: string[] = [];
  for (const shape of SHAPES) {
    for (let r = 0; r < rounds; r++) {
      const dir = path.join(base, `${shape.name.replace(/\W+/g, '-')}-${r}`);
      let clusterSecs = 0;
      const env = await startEnvironment({
        dir,
        clusters: ['bench'],
        controlPlane: shape.controlPlane,
        nodes: shape.nodes,
        log: (line) => {
          const m = /^cluster bench: .* in ([\d.]+) s$/.exec(line);
          if (m) clusterSecs = Number(m[1]);
        },
      });
      try {
        const c = env.clusters[0]!;
        const procs = [
          c.etcd,
          c.apiserver,
          ...(c.controlPlane ? [c.controlPlane.controllerManager, c.controlPlane.scheduler] : []),
          ...(c.node ? [c.node.containerd, c.node.kubelet] : []),
        ];
        // Let the controllers settle before measuring memory.
        await new Promise((res) => setTimeout(res, 10_000));
        const parts: string[] = [];
        let total = 0;
        for (const p of procs) {
          const kib = await rssKiB(p.pid);
          total += kib;
          parts.push(`${p.name.replace(/\(.*\)/, '')} ${(kib / 1024).toFixed(0)}`);
        }
        if (c.node) {
          let shims = 0;
          for (const pid of await pidsWith(`-address ${c.node.containerdSocket}`)) shims += await rssKiB(pid);
          total += shims;
          parts.push(`shims ${(shims / 1024).toFixed(0)}`);
        }
        rows.push(
          `${shape.name.padEnd(22)} round ${r + 1}: up in ${clusterSecs.toFixed(1)} s, RSS ${(total / 1024).toFixed(0)} MiB (${parts.join(', ')})`,
        );
        process.stdout.write(`${rows[rows.length - 1]}\n`);
      } finally {
        await env.stop();
      }
    }
  }
  await rm(base, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
