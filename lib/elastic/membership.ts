/**
 * Who is in an elastic job, agreed through a key-value store (the launcher's, or etcd's Raft).
 *
 * Keys (under `el/`):
 * - `alive/<id>`: a worker's liveness record, ephemeral (it vanishes with the worker's store
 *   connection or etcd lease), holding its seniority.
 * - `g/<G>/ready/<id>`: the worker asks to be in generation G.
 * - `g/<G>/lost/<id>`: a survivor's transport saw that worker die (or stop answering) in the
 *   generation before G, so G does not wait for its lease to expire; a worker marked so in
 *   error, still alive, is left out of G and joins at the next commit like a new one.
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

const PREFIX = 'el/';
const ALIVE = `${PREFIX}alive/`;

function order(a: AliveRecord, b: AliveRecord): number {
  return a.since - b.since || Number(a.id.slice(1)) - Number(b.id.slice(1));
}

/** This worker's view of the membership; one per process. */
export class Membership {
  /** The generation this worker is a member of (-1 before the first). */
  current: Generation = { generation: -1, members: [] };
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
    const { minNp, maxNp, timeoutSec } = this.settings;
    const deadline = Date.now() + timeoutSec * 1000;
    let target = this.current.generation + 1;
    let asked = -1;
    let lastReport = Date.now();
    for (;;) {
      if (asked !== target) {
        await this.kv.put(`${PREFIX}g/${target}/ready/${this.id}`, '1');
        asked = target;
      }
      const agreed = await this.kv.get(`${PREFIX}g/${target}/members`);
      if (agreed !== undefined) {
        const members = JSON.parse(agreed) as string[];
        if (members.includes(this.id)) return this.adopt({ generation: target, members });
        // Formed without this worker (it asked too late): ask for the one after; the members
        // see this worker at their next commit and move there too.
        target++;
        continue;
      }
      const { revision, entries } = await this.kv.list(PREFIX);
      const alive: AliveRecord[] = [];
      const ready = new Set<string>();
      const lost = new Set<string>();
      const readyPrefix = `${PREFIX}g/${target}/ready/`;
      const lostPrefix = `${PREFIX}g/${target}/lost/`;
      for (const [k, v] of entries) {
        if (k.startsWith(ALIVE)) alive.push(JSON.parse(v) as AliveRecord);
        else if (k.startsWith(readyPrefix)) ready.add(k.slice(readyPrefix.length));
        else if (k.startsWith(lostPrefix)) lost.add(k.slice(lostPrefix.length));
      }
      // This worker is never lost to itself (it may have been marked by a peer in error).
      lost.delete(this.id);
      for (let i = alive.length - 1; i >= 0; i--) if (lost.has(alive[i].id)) alive.splice(i, 1);
      // A later generation already forming means this one was skipped by everyone else.
      const later = [...entries.keys()].some((k) => {
        const g = /^el\/g\/(\d+)\/members$/.exec(k);
        return g !== null && Number(g[1]) > target;
      });
      if (later) {
        target++;
        continue;
      }
      alive.sort(order);
      const waitingFor = alive.filter((a) => !ready.has(a.id));
      if (waitingFor.length === 0 && alive.length >= minNp) {
        const members = alive.slice(0, maxNp).map((a) => a.id);
        await this.kv.createIfAbsent(`${PREFIX}g/${target}/members`, JSON.stringify(members));
        continue;
      }
      const now = Date.now();
      if (now >= deadline) {
        const why =
          alive.length < minNp
            ? `only ${alive.length} worker(s) alive (${alive.map((a) => a.id).join(', ') || 'none'}), below --min-np ${minNp}`
            : `worker(s) ${waitingFor.map((a) => a.id).join(', ')} are alive but never asked to join generation ${target}`;
        throw new DtrainError(`elastic: ${why}; waited ${timeoutSec} s (--elastic-timeout) in ${this.kv.description}`, 'ERR_DTRAIN_MEMBERSHIP');
      }
      if (now - lastReport > 10_000) {
        lastReport = now;
        log(
          alive.length < minNp
            ? `dtrain elastic: ${alive.length} worker(s) alive, waiting for --min-np ${minNp} (${Math.round((deadline - now) / 1000)} s left)`
            : `dtrain elastic: waiting for ${waitingFor.map((a) => a.id).join(', ')} to join generation ${target}`,
        );
      }
      await this.kv.watch(PREFIX, revision, Math.min(1000, deadline - now));
    }
  }

  /**
   * Records that the current generation's members at `ranks` were lost (a transport error named
   * them), so the next generation forms without waiting for their liveness records to expire.
   */
  async reportLost(ranks: readonly number[]): Promise<void> {
    const next = this.current.generation + 1;
    for (const r of ranks) {
      const id = this.current.members[r];
      if (id !== undefined && id !== this.id) await this.kv.put(`${PREFIX}g/${next}/lost/${id}`, '1');
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
    return this.kv.putEphemeral(`${ALIVE}${this.id}`, JSON.stringify({ ...record, since: Number.isFinite(this.since) ? this.since : 1e9 }));
  }

  // Notices workers that are alive but not members (a replacement or an added one).
  private async watchJoins(): Promise<void> {
    this.watching = true;
    try {
      while (!this.closed) {
        const { revision, entries } = await this.kv.list(ALIVE);
        const members = new Set(this.current.members);
        const outsiders = [...entries.values()].map((v) => (JSON.parse(v) as AliveRecord).id).filter((id) => !members.has(id));
        if (outsiders.length > 0 && members.size < this.settings.maxNp) this.changed = true;
        await this.kv.watch(ALIVE, revision, 5000);
      }
    } catch {
      // The store went away (the job is ending, or etcd is down): training carries on in this
      // generation; a change that needs the store will report the failure then.
    } finally {
      this.watching = false;
    }
  }
}
