// Small filesystem and concurrency helpers shared by the agent's stores.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Writes a file via temp + rename so readers (and a crash) see the old or the new content. */
export async function writeFileAtomic(file: string, data: string | Buffer, fsync = false): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const fh = await fs.promises.open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(data);
    if (fsync) await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, file);
  if (fsync) fsyncDir(path.dirname(file));
}

/**
 * Writes files whose newest content is all that matters (status records): one write at a time per
 * file, through writeFileAtomic, and contents asked for while one is being written replaced by the
 * newest, so an older content never lands after a newer one. Why: a replication saves its status
 * at every phase, and each save, awaited, cost its run 1-3 ms of thread-pool round trips (~10 ms
 * of an unchanged 2 GiB replication's ~250 ms); concurrent writes of one file could also land out
 * of order. A failed write is reported to `onError` and not retried (the next content is written
 * whole).
 */
export class LatestWriter {
  private readonly pending = new Map<string, { data: string | null; waiters: Array<() => void> }>();
  private readonly running = new Map<string, Promise<void>>();

  constructor(private readonly onError: (file: string, err: unknown) => void = () => undefined) {}

  /** Resolves once `data`, or a newer content of `file`, is written (or failed to be). */
  write(file: string, data: string): Promise<void> {
    return this.enqueue(file, data);
  }

  /** Deletes `file` after the writes asked for before; resolves once it is gone. */
  remove(file: string): Promise<void> {
    return this.enqueue(file, null);
  }

  /** Resolves once every write and removal asked for so far has been done. */
  async flush(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running.values());
  }

  private enqueue(file: string, data: string | null): Promise<void> {
    return new Promise((resolve) => {
      const p = this.pending.get(file);
      if (p) {
        p.data = data;
        p.waiters.push(resolve);
      } else this.pending.set(file, { data, waiters: [resolve] });
      if (!this.running.has(file)) this.running.set(file, this.drain(file));
    });
  }

  private async drain(file: string): Promise<void> {
    for (;;) {
      const p = this.pending.get(file);
      // in the same synchronous step as the look: a content asked for from now on starts a drain
      if (!p) return void this.running.delete(file);
      this.pending.delete(file);
      try {
        if (p.data === null) await fs.promises.rm(file, { force: true });
        else await writeFileAtomic(file, p.data);
      } catch (err) {
        this.onError(file, err);
      }
      for (const w of p.waiters) w();
    }
  }
}

export async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await fs.promises.readFile(file, 'utf8')) as T;
}

/** Deletes files named like our temp files in `dir` (non-recursive). */
export async function removeTempFiles(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch {
    return;
  }
  for (const n of names)
    if (n.includes('.tmp-')) await fs.promises.rm(path.join(dir, n), { recursive: true, force: true });
}

/** Serialises async work per key. */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await next;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Whether something holds or waits for `key`. */
  busy(key: string): boolean {
    return this.tails.has(key);
  }
}

/**
 * Work that follows an answer: queued on `lock` behind whoever holds the key now, and started on a
 * later turn of the event loop, so the holder's caller (a request handler sending its answer) goes
 * first. Used for what a standby commit releases (pruned restore points, the garbage
 * collection), and what a source's replication leaves to compact once it has ended: the next
 * holder of the key waits for it, no request does. A failure is reported to `onError`, not thrown.
 * Not used for the source's pruned snapshots: a replication goes on at once
 * after its snapshot (planning, sending) on the same event loop, so work moved there only moved
 * into its next phases (measured: plan phase +10 ms, snapshot phase +13-22 ms against ~8 ms saved).
 */
export class AfterAnswer {
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly lock: KeyedMutex,
    private readonly onError: (what: string, err: unknown) => void = () => undefined,
  ) {}

  queue(key: string, what: string, work: () => Promise<void>): void {
    const done = this.lock
      .run(key, async () => {
        await new Promise((r) => setImmediate(r));
        await work();
      })
      .catch((err: unknown) => this.onError(what, err));
    this.pending.set(key, done);
    void done.finally(() => {
      if (this.pending.get(key) === done) this.pending.delete(key);
    });
  }

  /** Resolves once the work queued so far for `key` (or for every key) is done. */
  async settled(key?: string): Promise<void> {
    await Promise.all(key === undefined ? [...this.pending.values()] : [this.pending.get(key)]);
  }
}

/** A sortable, unique id: UTC timestamp to the millisecond plus random suffix. */
export function newId(prefix = ''): string {
  const ts = new Date().toISOString().replace(/[-:]/g, '').replace('.', '');
  return `${prefix}${ts}-${crypto.randomBytes(3).toString('hex')}`;
}

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes all of `buf` at `position` of `fd` on the thread pool (as many writes as it takes). */
export function writeAllAt(fd: number, buf: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done === buf.length) return resolve();
      fs.write(fd, buf, done, buf.length - done, position + done, (err, n) =>
        err ? reject(err) : step(done + n),
      );
    };
    step(0);
  });
}

/**
 * Reads up to `len` bytes at `position` of `fd` into `buf` at `at` on the thread pool (as many reads
 * as it takes); returns the bytes read, fewer only at the end of the file.
 */
export async function readAllAt(
  fd: number,
  buf: Buffer,
  at: number,
  len: number,
  position: number,
): Promise<number> {
  let got = 0;
  while (got < len) {
    const k = await new Promise<number>((ok, ko) =>
      fs.read(fd, buf, at + got, len - got, position + got, (err, r) => (err ? ko(err) : ok(r))),
    );
    if (k === 0) break;
    got += k;
  }
  return got;
}

/** O_DIRECT needs buffers, offsets and lengths aligned to the logical block size (4096 covers all). */
export const DIRECT_ALIGN = 4096;

/**
 * A `size`-byte buffer whose address suits O_DIRECT on `fd`'s filesystem. JavaScript cannot see a
 * buffer's address, so this over-allocates and probes offsets with a one-block O_DIRECT write at
 * position 0 of `fd` (a file about to be overwritten from position 0, or a scratch file): the
 * kernel refuses a misaligned buffer with EINVAL. A filesystem that takes any address (tmpfs)
 * accepts the first offset, so the buffer is only good for that filesystem. Null when no offset
 * works.
 */
export function alignedBuffer(fd: number, size: number): Buffer | null {
  const raw = Buffer.allocUnsafeSlow(size + DIRECT_ALIGN);
  raw.fill(0, 0, 2 * DIRECT_ALIGN);
  for (let off = 0; off < DIRECT_ALIGN; off += 8) {
    try {
      fs.writeSync(fd, raw, off, DIRECT_ALIGN, 0);
      return raw.subarray(off, off + size);
    } catch (err) {
      if ((err as { code?: string }).code !== 'EINVAL') return null;
    }
  }
  return null;
}
