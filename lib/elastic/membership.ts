/**
 * Who is in an elastic job, agreed through a key-value store (the launcher's, or etcd's Raft).
 *
 * Keys (under `em/`, apart from the generations' bootstrap keys under `el/c<G>/`, so listing and watching the membership never sees those):
 * - `alive/<id>`: a worker's liveness record, ephemeral (it vanishes with the worker's store
 *   connection or etcd lease), holding its seniority.
 * - `g/<G>/ready/<id>`: the worker asks to be in generation G.
 * - `lost/<id>`: a survivor's transport saw that worker die (or stop answering), so later
 *   generations do not wait for its liveness record to expire. The mark stands until the worker
 *   itself asks to join a generation (a stopped worker that wakes up): then it counts again, and
 *   joins at the next commit like a new one.
 * - `done`: a member finished the training loop; a worker still waiting to be admitted exits.
 * - `g/<G>/members`: generation G's members in rank order, written once by a create-if-absent
 *   that exactly one worker wins; every worker adopts what is there, so two survivors that saw
 *   different failures still end up in one agreed membership, never each deciding alone.
 *
 * Generation G is formed once every live worker has asked for it (so none is left behind in an
 * older one) and at least `minNp` live: its members are the live workers, most senior first
 * (the longest in the job, then the earliest started). Rank 0 is thus always a worker that holds
 * the committed state, and sync() broadcasts from it.
 */
import { hostname } from 'node:os';
import { DtrainError } from '../common/errors';
import type { ElasticSettings } from '../comm/config';
import type { ElasticKV } from './kv';

/** One generation's agreed membership. */
export interface Generation {
  generation: number;
  /** Worker ids in rank order. */
  members: string[];
}

interface AliveRecord {
  id: string;
  /** The first generation this worker was a member of (Infinity until admitted). */
  since: number;
  host: string;
  pid: number;
}

const PREFIX = 'em/';
const ALIVE = `${PREFIX}alive/`;
const LOST = `${PREFIX}lost/`;

function order(a: AliveRecord, b: AliveRecord): number {
  return a.since - b.since || Number(a.id.slice(1)) - Number(b.id.slice(1));
}

/** This worker's view of the membership; one per process. */
export class Membership {
  /** The generation this worker is a member of (-1 before the first). */
  current: Generation = { generation: -1, members: [] };
  /** Workers in generation 0 (the job's size at the start, against which rates are scaled). */
  initialSize = 0;
  private since = Infinity;
  private changed = false;
  private watching = false;
  private closed = false;

  private constructor(
    readonly kv: ElasticKV,
    readonly settings: ElasticSettings,
  ) {}

  /** Registers this worker as alive in `kv`. */
  static async open(kv: ElasticKV, settings: ElasticSettings): Promise<Membership> {
    const m = new Membership(kv, settings);
    await m.publish();
    return m;
  }

  get id(): string {
    return this.settings.id;
  }

  /**
   * Generation 0: the workers the launcher started, in its rank order (DTRAIN_RANK), so the
   * first communicator is the one a plain job would have had.
   */
  async initial(size: number): Promise<Generation> {
    const members = Array.from({ length: size }, (_, r) => `w${r}`);
    await this.kv.createIfAbsent(`${PREFIX}g/0/members`, JSON.stringify(members));
    const agreed = JSON.parse((await this.kv.get(`${PREFIX}g/0/members`)) as string) as string[];
    this.initialSize = agreed.length;
    return this.adopt({ generation: 0, members: agreed });
  }

  /**
   * Agrees on the generation after the current one with every live worker (see the file's
   * comment) and resolves to it once this worker is a member.
   *
   * @throws DtrainError ERR_DTRAIN_MEMBERSHIP when fewer than minNp workers stay alive for the
   *   elastic timeout
   */
  async next(log: (line: string) => void): Promise<Generation> {
    const { timeoutSec } = this.settings;
    const deadline = Date.now() + timeoutSec * 1000;
    let target = this.current.generation + 1;
    const state = { asked: -1, lastReport: Date.now(), storeDown: '' };
    for (;;) {
      try {
        const step = await this.formStep(target, deadline, state, log);
        if (typeof step !== 'number') return step;
        target = step;
        state.storeDown = '';
      } catch (err) {
        if (err instanceof DtrainError && err.code === 'ERR_DTRAIN_MEMBERSHIP') throw err;
        // The store is unreachable (etcd down): keep trying until the elastic deadline.
        if (Date.now() >= deadline) {
          throw finalError(`elastic: the membership store (${this.kv.description}) stayed unreachable for the ${timeoutSec} s --elastic-timeout: ${(err as Error).message}`);
        }
        if (!state.storeDown) log(`dtrain elastic: ${this.id}: the membership store is unreachable (${(err as Error).message}); retrying until the elastic timeout`);
        state.storeDown = (err as Error).message;
        await sleep(500);
      }
    }
  }

  // One look at the store for generation `target`: the generation this worker is admitted to,
  // or the target to look at next.
  private async formStep(
    target: number,
    deadline: number,
    state: { asked: number; lastReport: number },
    log: (line: string) => void,
  ): Promise<Generation | number> {
    const { minNp, maxNp, timeoutSec } = this.settings;
    if (state.asked !== target) {
      await this.kv.put(`${PREFIX}g/${target}/ready/${this.id}`, '1');
      state.asked = target;
    }
    const agreed = await this.kv.get(`${PREFIX}g/${target}/members`);
    if (agreed !== undefined) {
      const members = JSON.parse(agreed) as string[];
      if (members.includes(this.id)) {
        if (this.initialSize === 0) this.initialSize = (JSON.parse((await this.kv.get(`${PREFIX}g/0/members`)) ?? '[]') as string[]).length || members.length;
        return this.adopt({ generation: target, members });
      }
      // Formed without this worker (it asked too late): ask for the one after; the members
      // see this worker at their next commit and move there too.
      return target + 1;
    }
    const { revision, entries } = await this.kv.list(PREFIX);
    if (entries.has(`${PREFIX}done`)) {
      // The members finished while this worker waited: there is nothing left to train.
      log(`dtrain elastic: ${this.id}: the job finished before this worker was admitted; exiting`);
      await this.close();
      process.exit(0);
    }
    const view = readView(entries, target);
    const later = [...entries.keys()].some((k) => {
      const g = /^em\/g\/(\d+)\/members$/.exec(k);
      return g !== null && Number(g[1]) > target;
    });
    // A later generation already forming means this one was skipped by everyone else.
    if (later) return target + 1;
    const alive = view.alive;
    const waitingFor = alive.filter((a) => !view.ready.has(a.id));
    // Someone must bring the job's state: a generation of workers that were never members
    // (every one of them started after the others died) would train from scratch.
    const holders = alive.filter((a) => a.since < NEVER);
    if (waitingFor.length === 0 && alive.length >= minNp && holders.length > 0) {
      const members = alive.slice(0, maxNp).map((a) => a.id);
      await this.kv.createIfAbsent(`${PREFIX}g/${target}/members`, JSON.stringify(members));
      return target;
    }
    const now = Date.now();
    if (now >= deadline) {
      const why =
        alive.length < minNp
          ? `only ${alive.length} worker(s) alive (${alive.map((a) => a.id).join(', ') || 'none'}), below --min-np ${minNp}`
          : holders.length === 0
            ? `no worker that holds the job's state is alive (${alive.map((a) => a.id).join(', ')} joined after it was lost)`
            : `worker(s) ${waitingFor.map((a) => a.id).join(', ')} are alive but never asked to join generation ${target}`;
      throw finalError(`elastic: ${why}; waited ${timeoutSec} s (--elastic-timeout) in ${this.kv.description}`);
    }
    if (now - state.lastReport > 10_000) {
      state.lastReport = now;
      log(
        alive.length < minNp
          ? `dtrain elastic: ${alive.length} worker(s) alive, waiting for --min-np ${minNp} (${Math.round((deadline - now) / 1000)} s left)`
          : `dtrain elastic: waiting for ${waitingFor.map((a) => a.id).join(', ') || "a worker that holds the job's state"} to join generation ${target}`,
      );
    }
    await this.kv.watch(PREFIX, revision, Math.min(1000, deadline - now));
    return target;
  }

  /** Tells workers still waiting to be admitted that the training loop has finished. */
  async markDone(): Promise<void> {
    try {
      await this.kv.put(`${PREFIX}done`, this.id);
    } catch {
      // Without the store a waiting worker times out instead; the job's result stands.
    }
  }

  /**
   * Records that the current generation's members at `ranks` were lost (a transport error named
   * them), so the next generation forms without waiting for their liveness records to expire.
   */
  async reportLost(ranks: readonly number[]): Promise<void> {
    const marked = this.current.generation + 1;
    for (const r of ranks) {
      const id = this.current.members[r];
      if (id !== undefined && id !== this.id) await this.kv.put(`${PREFIX}lost/${id}`, String(marked));
    }
  }

  /**
   * Whether this worker has seen a live worker outside its generation (one waiting to join),
   * from a background watch; every rank agrees on it at a commit with one small all-reduce.
   */
  get changePending(): boolean {
    return this.changed;
  }

  /** Ends the membership: this worker's liveness record goes away. */
  async close(): Promise<void> {
    this.closed = true;
    await this.kv.close();
  }

  private async adopt(g: Generation): Promise<Generation> {
    this.current = g;
    this.changed = false;
    if (this.since === Infinity) {
      this.since = g.generation;
      await this.publish();
    }
    if (!this.watching) void this.watchJoins();
    return g;
  }

  private publish(): Promise<void> {
    const record: AliveRecord = { id: this.id, since: this.since, host: hostname(), pid: process.pid };
    return this.kv.putEphemeral(`${ALIVE}${this.id}`, JSON.stringify({ ...record, since: Number.isFinite(this.since) ? this.since : NEVER }));
  }

  // Notices workers that are alive but not members (a replacement, an added one, or a worker
  // once marked lost that asks to join again). Polls with an unref'd timer, so it never keeps a
  // finished script alive, and keeps going through store outages.
  private async watchJoins(): Promise<void> {
    this.watching = true;
    try {
      while (!this.closed) {
        try {
          const { entries } = await this.kv.list(PREFIX);
          const members = new Set(this.current.members);
          const view = readView(entries, this.current.generation + 1);
          const outsiders = view.alive.filter((a) => !members.has(a.id));
          if (outsiders.length > 0 && members.size < this.settings.maxNp) this.changed = true;
        } catch {
          // The store is unreachable (etcd down): training carries on in this generation.
        }
        await sleep(JOIN_POLL_MS, true);
      }
    } finally {
      this.watching = false;
    }
  }
}

/** A liveness record's `since` for a worker that has never been a member. */
const NEVER = 1e9;

/** How often the running members look for workers waiting to join. */
const JOIN_POLL_MS = 250;

function sleep(ms: number, unref = false): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    if (unref) t.unref();
  });
}

/** ERR_DTRAIN_MEMBERSHIP that elastic.run must not recover from (the job cannot go on). */
function finalError(message: string): DtrainError {
  return Object.assign(new DtrainError(message, 'ERR_DTRAIN_MEMBERSHIP'), { final: true });
}

/**
 * The live workers that count for generation `target`, most senior first, and who asked for
 * it. A worker marked lost counts only once it has asked for `target` itself.
 */
function readView(entries: Map<string, string>, target: number): { alive: AliveRecord[]; ready: Set<string> } {
  const alive: AliveRecord[] = [];
  const ready = new Set<string>();
  const lost = new Set<string>();
  const readyPrefix = `${PREFIX}g/${target}/ready/`;
  for (const [k, v] of entries) {
    if (k.startsWith(ALIVE)) alive.push(JSON.parse(v) as AliveRecord);
    else if (k.startsWith(readyPrefix)) ready.add(k.slice(readyPrefix.length));
    else if (k.startsWith(LOST)) lost.add(k.slice(LOST.length));
  }
  return { alive: alive.filter((a) => !lost.has(a.id) || ready.has(a.id)).sort(order), ready };
}
