import { fitsInt64 } from './protocol';

/** Called with a key's value once it is set. */
export type Waiter = (value: Buffer) => void;

/** Called with the store's revision once a key under a watched prefix changes. */
export type Watcher = (revision: number) => void;

/**
 * The store's contents: binary values by key, plus the GETs still waiting for a key to appear
 * and the WATCHes waiting for a prefix to change. ADD counters live in the same table as decimal
 * text, so a GET of a counter returns its digits.
 *
 * Every change (set, add, delete) bumps one store-wide revision, as etcd's does, and records it
 * against the key (a deleted key keeps its revision as a tombstone), so a WATCH from revision r
 * sees every change after r, including one that happened between two WATCH requests.
 */
export class KeyValueTable {
  private readonly values = new Map<string, Buffer>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly watchers = new Set<{ prefix: string; after: number; wake: Watcher }>();
  /** The revision of each key's last change; deleted keys stay here as tombstones. */
  private readonly changed = new Map<string, number>();
  /** The connection that owns each ephemeral key (deleted when that connection closes). */
  private readonly owners = new Map<string, object>();
  private rev = 0;

  /** The revision of the latest change. */
  get revision(): number {
    return this.rev;
  }

  /** The value of `key`, or `undefined` if it was never set. */
  get(key: string): Buffer | undefined {
    return this.values.get(key);
  }

  /**
   * Stores `value` under `key` and releases every GET waiting for it. With `owner` the key is
   * ephemeral: {@link dropOwned} deletes it when that owner (a connection) goes away.
   */
  set(key: string, value: Buffer, owner?: object): void {
    this.values.set(key, value);
    if (owner) this.owners.set(key, owner);
    else this.owners.delete(key);
    this.bump(key);
    const waiting = this.waiters.get(key);
    if (!waiting) return;
    this.waiters.delete(key);
    for (const wake of waiting) wake(value);
  }

  /** Deletes `key`; returns whether it existed. */
  delete(key: string): boolean {
    if (!this.values.delete(key)) return false;
    this.owners.delete(key);
    this.bump(key);
    return true;
  }

  /**
   * Sets `key` to `value` only if its current value is `expect` (`null`: only if it is absent).
   *
   * @returns whether it was set
   */
  compareAndSet(key: string, expect: Buffer | null, value: Buffer): boolean {
    const current = this.values.get(key);
    if (expect === null ? current !== undefined : current === undefined || !current.equals(expect)) return false;
    this.set(key, value);
    return true;
  }

  /** Every key starting with `prefix` and its value, in key order. */
  list(prefix: string): [string, Buffer][] {
    return [...this.values.entries()].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Deletes the ephemeral keys `owner` still owns (its connection closed). */
  dropOwned(owner: object): void {
    for (const [key, o] of [...this.owners]) if (o === owner) this.delete(key);
  }

  /**
   * Adds `delta` to the integer counter `key` (a missing key counts as 0).
   *
   * @returns the new value, or the reason the add was refused
   */
  add(key: string, delta: bigint): bigint | { why: string } {
    const current = this.values.get(key);
    let base = 0n;
    if (current !== undefined) {
      const text = current.toString('latin1');
      if (!/^[+-]?\d+$/.test(text)) return { why: 'value is not an integer' };
      base = BigInt(text);
    }
    const next = base + delta;
    if (!fitsInt64(next)) return { why: 'counter overflows 64 bits' };
    this.set(key, Buffer.from(next.toString(), 'latin1'));
    return next;
  }

  /**
   * Calls `wake` once when `key` is next set.
   *
   * @returns a function that cancels the wait (for timeouts and closed connections)
   */
  wait(key: string, wake: Waiter): () => void {
    let waiting = this.waiters.get(key);
    if (!waiting) {
      waiting = new Set();
      this.waiters.set(key, waiting);
    }
    waiting.add(wake);
    return () => {
      const current = this.waiters.get(key);
      if (!current) return;
      current.delete(wake);
      if (current.size === 0) this.waiters.delete(key);
    };
  }

  /**
   * Calls `wake` once with the revision of the first change after revision `after` to a key
   * starting with `prefix`: at once if one already happened.
   *
   * @returns a function that cancels the watch
   */
  watch(prefix: string, after: number, wake: Watcher): () => void {
    let latest = 0;
    for (const [k, r] of this.changed) if (r > after && k.startsWith(prefix) && r > latest) latest = r;
    if (latest > 0) {
      wake(latest);
      return () => {};
    }
    const w = { prefix, after, wake };
    this.watchers.add(w);
    return () => void this.watchers.delete(w);
  }

  private bump(key: string): void {
    const r = ++this.rev;
    this.changed.set(key, r);
    for (const w of [...this.watchers]) {
      if (!key.startsWith(w.prefix)) continue;
      this.watchers.delete(w);
      w.wake(r);
    }
  }
}
