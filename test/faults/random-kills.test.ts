// Seeded kill -9 under load: N Migrations of apps with a volume (FERRY_FAULT_MIGRATIONS, default
// a CI-sized few; `npm run test:faults` runs 100), while a chaos loop kills, at random moments of
// a seeded plan, one of: either of the two `ferry worker` processes on the task queue, the source
// agent or the destination agent, and restarts it (same data root, ports, token and certs) after
// a random downtime. The seed is printed; FERRY_FAULT_SEED=S replays the same plan (same kills,
// targets, downtimes and data; the moments they land on depend on the machine's speed).
//
// Each app's migrations run one after another (its source volume changes only between them, so
// each migration's snapshot is the state written just before it); the apps run side by side.
// Asserted:
//   - every migration ends, within a bound, Successful or Failed with a reason;
//   - a Successful migration leaves its volume's standby byte for byte (content hash of the
//     whole tree: types, modes, sizes, SHA-256 of every file) the state its snapshot took, and
//     the destination's current restore point is the one its status names;
//   - every restore point the destination ever shows (a tree in rp/ with its manifest, or the
//     `current` link), polled all along the run, is the whole of one state the source had: never
//     a partial or mixed one; and `current` never disappears once it exists;
//   - at the end, every standby is one of its source's states, none older than its last
//     Successful migration's.
// The figures are printed as `[faults]` lines: seed, kills by target, migrations ended and why,
// restore points checked, corrupted standbys (0), wall time.
import { jest } from '@jest/globals';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { prng as seededRandom } from '../../bench/dataset.js';
import { describeTree, prng, sleep } from '../agents/trees.js';
import { migrationYaml } from '../fixtures/apps/shop.js';
import { volumeAppYaml } from '../fixtures/apps/volume-app.js';
import { eventually } from '../harness/eventually.js';
import { startFaultWorld, type FaultWorld } from '../harness/fault-world.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const say = (line: string) => void process.stderr.write(`[faults] ${line}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function envInt(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`${name} must be an integer of at least ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

const MIGRATIONS = envInt('FERRY_FAULT_MIGRATIONS', 8, 1);
const APPS = Math.min(envInt('FERRY_FAULT_APPS', 4, 1), MIGRATIONS);
const SEED = process.env['FERRY_FAULT_SEED'] || String(crypto.randomInt(1, 2 ** 31));
/** A migration not final after this long is stuck. */
const STUCK_MS = 300_000;
/** The chaos loop's gap between two kills, and a killed process's downtime, in ms. */
const GAP_MS = [1_000, 5_000] as const;
const DOWN_MS = [0, 2_000] as const;
/** When a kill lands: at the end of its gap, or once a transfer is in that phase (waiting at most 10 s). */
const MOMENTS = ['any', 'snapshotting', 'planning', 'transferring', 'committing'] as const;
const MiB = 1024 * 1024;

jest.setTimeout(180_000 + Math.ceil(MIGRATIONS / APPS) * STUCK_MS);

type Target = 'worker-a' | 'worker-b' | 'source' | 'destination';
const TARGETS: Target[] = ['worker-a', 'worker-b', 'source', 'destination'];

/** A content hash of a whole tree: what two trees must share to be the same volume. */
const treeHash = (dir: string) =>
  crypto
    .createHash('sha256')
    .update(JSON.stringify(describeTree(dir)))
    .digest('hex')
    .slice(0, 16);

let f: FaultWorld;

beforeAll(async () => {
  f = await startFaultWorld('random-kills', say);
}, 1_800_000);

afterAll(async () => {
  await f?.stop();
});

interface Outcome {
  ns: string;
  name: string;
  /** Index of the source state this migration's snapshot took. */
  state: number;
  status: string;
  reason: string;
  ms: number;
  /** When it was applied (epoch ms). */
  started: number;
}

it(`${MIGRATIONS} migrations with kill -9 of workers and agents at seeded random points`, async () => {
  const { world } = f;
  const t0 = Date.now();
  say(
    `seed ${SEED} (FERRY_FAULT_SEED=${SEED} replays), ${MIGRATIONS} migrations over ${APPS} apps, ` +
      `a kill every ${GAP_MS[0] / 1000}-${GAP_MS[1] / 1000} s, downtime ${DOWN_MS[0] / 1000}-${DOWN_MS[1] / 1000} s`,
  );
  const apps = Array.from({ length: APPS }, (_, i) => `fk-${i + 1}`);
  const volumeOf = (ns: string) => `${ns}-data`;
  /** Per volume: the hash of every state written on the source, in order. */
  const states = new Map<string, string[]>(apps.map((ns) => [volumeOf(ns), []]));
  const problems: string[] = [];
  /** Volumes whose standby was ever seen holding no state of its source. */
  const corrupted = new Set<string>();

  // The source volumes' changes: seeded, so a replay writes the same bytes.
  const dataRand = seededRandom(`${SEED}/data`);
  const between = (rand: () => number, lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const change = (ns: string, k: number) => {
    const vol = world.agents.source.volumePath(volumeOf(ns));
    const files = fs
      .readdirSync(vol)
      .filter((n) => n.endsWith('.bin'))
      .sort();
    const op = k === 0 ? 'init' : (['rewrite', 'add', 'delete', 'patch'] as const)[between(dataRand, 0, 3)];
    if (op === 'init') {
      fs.mkdirSync(path.join(vol, 'dir'), { recursive: true });
      for (let i = 0; i < 3; i++)
        fs.writeFileSync(
          path.join(vol, `f-${i}.bin`),
          prng(between(dataRand, 1, 4) * MiB, `${SEED}/${ns}/${i}`),
        );
      fs.writeFileSync(path.join(vol, 'dir', 'small.txt'), `${ns} state 0\n`);
    } else if (op === 'delete' && files.length > 3) {
      fs.rmSync(path.join(vol, files[between(dataRand, 0, files.length - 1)]!), { recursive: true });
    } else if (op === 'patch') {
      const name = files[0] ?? 'f-patch.bin';
      const fd = fs.openSync(path.join(vol, name), 'a');
      fs.writeSync(fd, prng(between(dataRand, 64, 512) * 1024, `${SEED}/${ns}/${k}/patch`));
      fs.closeSync(fd);
    } else {
      const name = op === 'add' ? `f-${k}.bin` : (files[0] ?? `f-${k}.bin`);
      fs.writeFileSync(path.join(vol, name), prng(between(dataRand, 1, 6) * MiB, `${SEED}/${ns}/${k}`));
    }
    fs.writeFileSync(path.join(vol, 'dir', 'small.txt'), `${ns} state ${k}\n`);
    states.get(volumeOf(ns))!.push(treeHash(vol));
  };

  for (const ns of apps) {
    const client = world.agents.source.client();
    await client.createVolume(volumeOf(ns)).finally(() => client.close());
    change(ns, 0);
    const vol = world.agents.source.volumePath(volumeOf(ns));
    await world.kubectl(
      'source',
      ['apply', '-f', '-'],
      volumeAppYaml(ns, { volumePath: vol, pv: `pv-${ns}` }),
    );
    await world.kubectl('source', ['apply', '-f', '-'], await world.clusterPairYaml(ns, 'remote'));
  }

  // The watcher: every restore point the destination shows must be a whole source state.
  const standbyDir = (v: string) => path.join(world.agents.destination.dataRoot, 'standby', v);
  const checkedTrees = new Map<string, string>();
  let restorePointsChecked = 0;
  let watching = true;
  const hadCurrent = new Set<string>();
  const checkTree = (v: string, shown: string, what: string) => {
    let real: string;
    try {
      real = fs.realpathSync(shown);
    } catch {
      return; // pruned meanwhile
    }
    if (checkedTrees.has(real)) return;
    let hash: string;
    try {
      hash = treeHash(real);
    } catch (err) {
      if (!fs.existsSync(real)) return; // pruned while we read it: no longer shown
      throw err;
    }
    if (!fs.existsSync(real)) return;
    checkedTrees.set(real, hash);
    restorePointsChecked++;
    if (!states.get(v)!.includes(hash)) {
      corrupted.add(v);
      problems.push(`${what} of ${v} (${real}) is no state the source had: tree hash ${hash}`);
    }
  };
  const watch = (async () => {
    while (watching) {
      for (const v of states.keys()) {
        const dir = standbyDir(v);
        let current: string | undefined;
        try {
          current = fs.readlinkSync(path.join(dir, 'current'));
        } catch {
          if (hadCurrent.has(v)) problems.push(`standby ${v}: 'current' vanished after it existed`);
        }
        if (current) {
          hadCurrent.add(v);
          checkTree(v, path.join(dir, 'current'), `current restore point (${current})`);
        }
        let manifests: string[] = [];
        try {
          manifests = fs.readdirSync(path.join(dir, 'manifests')).filter((n) => n.endsWith('.json'));
        } catch {
          // no standby yet
        }
        for (const m of manifests) {
          const rp = path.join(dir, 'rp', m.slice(0, -'.json'.length));
          if (fs.existsSync(rp)) checkTree(v, rp, `restore point ${path.basename(rp)}`);
        }
      }
      await sleep(200);
    }
  })();

  // The chaos loop: a seeded plan of kills, one process down at a time.
  const chaosRand = seededRandom(`${SEED}/chaos`);
  const kills: Record<Target, number> = { 'worker-a': 0, 'worker-b': 0, source: 0, destination: 0 };
  /** Kills that landed while a transfer was in the phase their moment waited for. */
  const landed: Record<string, number> = {};
  let chaos = true;
  const restartMs: number[] = [];
  const killedAt: number[] = [];
  const restart = async (target: Target) => {
    for (let attempt = 1; ; attempt++) {
      try {
        if (target === 'worker-a') await world.restartWorker();
        else if (target === 'worker-b') f.workerB = await f.workerB.restart();
        else world.agents[target] = await world.agents[target].restart();
        return;
      } catch (err) {
        if (attempt >= 3) throw err;
        say(`restart of ${target} failed (attempt ${attempt}), again: ${String(err)}`);
      }
    }
  };
  /** A replication in `phase` on the source agent, once there is one (10 s at most). */
  const inPhase = (phase: string) =>
    eventually(
      `a transfer ${phase}`,
      async () => {
        const client = world.agents.source.client();
        try {
          return (await client.listReplications()).find((x) => x.phase === phase);
        } finally {
          client.close();
        }
      },
      10_000,
      10,
    ).catch(() => undefined);
  const chaosLoop = (async () => {
    for (let n = 1; chaos; n++) {
      // The first kill comes early and at any moment: on a fast machine the CI-sized run lasts
      // ~17 s, and a long first gap plus a wait for a phase that never came let it end unhit.
      const first = n === 1;
      const gap = between(chaosRand, GAP_MS[0], GAP_MS[1]) / (first ? 4 : 1);
      const target = TARGETS[between(chaosRand, 0, TARGETS.length - 1)]!;
      const drawn = MOMENTS[between(chaosRand, 0, MOMENTS.length - 1)]!;
      const moment = first ? 'any' : drawn;
      const down = between(chaosRand, DOWN_MS[0], DOWN_MS[1]);
      const until = Date.now() + gap;
      while (chaos && Date.now() < until) await sleep(100);
      if (!chaos) break;
      const during = moment === 'any' ? undefined : await inPhase(moment);
      if (!chaos) break;
      if (during) landed[moment] = (landed[moment] ?? 0) + 1;
      if (target === 'worker-a') await world.worker.kill();
      else if (target === 'worker-b') await f.workerB.kill();
      else await world.agents[target].kill();
      kills[target]++;
      killedAt.push(Date.now());
      say(
        `kill ${n}: kill -9 ${target} at ${secs(Date.now() - t0)}` +
          `${during ? ` while ${during.volume}'s transfer is ${moment}` : ''}, down ${down} ms`,
      );
      await sleep(down);
      const r0 = Date.now();
      await restart(target).then(
        () => restartMs.push(Date.now() - r0),
        (err: unknown) => {
          problems.push(`${target} did not come back after kill ${n}: ${String(err)}`);
          chaos = false;
        },
      );
    }
  })();

  // The migrations: each app's one after another, the apps side by side.
  const outcomes: Outcome[] = [];
  const runApp = async (a: number) => {
    const ns = apps[a]!;
    const volume = volumeOf(ns);
    for (let g = a, k = 1; g < MIGRATIONS; g += APPS, k++) {
      if (k > 1) change(ns, k - 1);
      const state = states.get(volume)!.length - 1;
      const name = `m-${String(k).padStart(3, '0')}`;
      const started = Date.now();
      await world.kubectl(
        'source',
        ['apply', '-f', '-'],
        migrationYaml(ns, name, { clusterPair: 'remote', namespaces: [ns] }),
      );
      let m: Obj;
      try {
        m = await world.waitForMigration(ns, name, STUCK_MS);
      } catch (err) {
        outcomes.push({
          ns,
          name,
          state,
          status: 'stuck',
          reason: String(err),
          ms: Date.now() - started,
          started,
        });
        problems.push(`${ns}/${name} stuck: ${String(err)}`);
        return; // its transfer may still run: this app's source must not change under it
      }
      const s = (m['status'] ?? {}) as Obj;
      outcomes.push({
        ns,
        name,
        state,
        status: s.status,
        reason: s.reason ?? '',
        ms: Date.now() - started,
        started,
      });
      if (s.status === 'Failed' && !String(s.reason ?? '').trim())
        problems.push(`${ns}/${name} Failed without a reason`);
      if (s.status !== 'Successful' && s.status !== 'Failed')
        problems.push(`${ns}/${name} ended ${s.status}: ${s.reason}`);
      if (s.status === 'Successful') {
        const got = treeHash(world.agents.destination.standbyPath(volume));
        if (!states.get(volume)!.includes(got)) corrupted.add(volume);
        if (got !== states.get(volume)![state])
          problems.push(
            `${ns}/${name} Successful but standby ${volume} is ${states.get(volume)!.includes(got) ? `state ${states.get(volume)!.indexOf(got)}` : `no source state (${got})`}, not state ${state}`,
          );
        const rp = s.volumes?.[0]?.restorePoint as string | undefined;
        const current = path.basename(fs.readlinkSync(path.join(standbyDir(volume), 'current')));
        if (!rp || rp !== current)
          problems.push(`${ns}/${name} names restore point ${rp} but the standby's current is ${current}`);
      }
    }
  };
  await Promise.all(apps.map((_, a) => runApp(a)));
  chaos = false;
  await chaosLoop;
  watching = false;
  await watch;
  const wallMs = Date.now() - t0;

  // Every standby, at the end: a state of its source, none older than its last success.
  for (const ns of apps) {
    const v = volumeOf(ns);
    const list = states.get(v)!;
    const lastOk = Math.max(
      -1,
      ...outcomes.filter((o) => o.ns === ns && o.status === 'Successful').map((o) => o.state),
    );
    if (!fs.existsSync(world.agents.destination.standbyPath(v))) {
      if (lastOk >= 0) problems.push(`standby ${v} missing after a Successful migration`);
      continue;
    }
    const at = list.indexOf(treeHash(world.agents.destination.standbyPath(v)));
    if (at < 0) corrupted.add(v);
    if (at < 0 || at < lastOk) {
      problems.push(
        `standby ${v} at the end is ${at < 0 ? 'no source state' : `state ${at}`}, last success state ${lastOk}`,
      );
    }
  }

  const ended: Record<string, number> = {};
  const reasons: Record<string, number> = {};
  for (const o of outcomes) {
    ended[o.status] = (ended[o.status] ?? 0) + 1;
    if (o.status !== 'Successful') {
      const r = o.reason
        .replace(/[0-9a-f]{12,}/g, '…')
        .replace(/\d+/g, 'N')
        .slice(0, 160);
      reasons[r] = (reasons[r] ?? 0) + 1;
    }
  }
  const times = outcomes.map((o) => o.ms).sort((x, y) => x - y);
  const slowest = [...outcomes]
    .sort((x, y) => y.ms - x.ms)
    .slice(0, 3)
    .map((o) => `${o.ns}/${o.name} ${secs(o.ms)}`);
  const totalKills = Object.values(kills).reduce((x, y) => x + y, 0);
  const underFire = outcomes.filter((o) => killedAt.some((t) => t >= o.started && t <= o.started + o.ms));
  say(
    `seed ${SEED}: ${totalKills} kills ${JSON.stringify(kills)}, landed while a transfer was ${JSON.stringify(landed)}`,
  );
  restartMs.sort((x, y) => x - y);
  say(
    `restarts of the killed process: median ${secs(restartMs[Math.floor(restartMs.length / 2)] ?? 0)}, max ${secs(restartMs[restartMs.length - 1] ?? 0)}`,
  );
  say(
    `${underFire.length} migrations had a kill while they ran; of those ${underFire.filter((o) => o.status === 'Successful').length} Successful`,
  );
  say(
    `${outcomes.length} migrations ended ${JSON.stringify(ended)}; time each median ${secs(times[Math.floor(times.length / 2)] ?? 0)}, max ${secs(times[times.length - 1] ?? 0)} (slowest: ${slowest.join(', ')})`,
  );
  for (const [r, n] of Object.entries(reasons)) say(`  ${n} × ${r}`);
  say(
    `restore points checked while the run went on: ${restorePointsChecked}; corrupted standbys: ${corrupted.size}`,
  );
  say(`wall time ${secs(wallMs)} (migrations and kills; the environment not counted)`);
  // Where the slowest ones lost their time: their activities that took retries (the attempt
  // that ran last, and why the one before it failed), read from Temporal's history.
  for (const o of [...outcomes].sort((x, y) => y.ms - x.ms).slice(0, 3)) {
    const events =
      (await world.temporal.workflow.getHandle(`migration/${o.ns}/${o.name}`).fetchHistory()).events ?? [];
    const typeOf = new Map<string, string>();
    const retried: string[] = [];
    for (const e of events) {
      const scheduled = e.activityTaskScheduledEventAttributes;
      if (scheduled) typeOf.set(String(e.eventId), scheduled.activityType?.name ?? '?');
      const started = e.activityTaskStartedEventAttributes;
      if (started && (started.attempt ?? 1) > 1)
        retried.push(
          `${typeOf.get(String(started.scheduledEventId))} attempt ${started.attempt} after "${(started.lastFailure?.message ?? '').slice(0, 90)}"`,
        );
    }
    say(`${o.ns}/${o.name} took ${secs(o.ms)}; retried: ${retried.length ? retried.join('; ') : 'nothing'}`);
  }
  for (const p of problems) say(`PROBLEM ${p}`);

  expect(problems).toEqual([]);
  expect([...corrupted]).toEqual([]);
  expect(outcomes).toHaveLength(MIGRATIONS);
  expect(totalKills).toBeGreaterThan(0);
  // Kills must not be all the run does: most migrations still succeed.
  expect(ended['Successful'] ?? 0).toBeGreaterThan(0);
});
