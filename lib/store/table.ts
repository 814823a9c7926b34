import { fitsInt64 } from './protocol';

/** Called with a key's value once it is set. */
export type Waiter = (value: Buffer) => void;

/**
 * The store's contents: binary values by key, plus the GETs still waiting for a key to appear.
 * ADD counters live in the same table as decimal text, so a GET of a counter returns its digits.
 */
export class KeyValueTable {
  private readonly values = new Map<string, Buffer>();
  private readonly waiters = new Map<string, Set<Waiter>>();

  /** The value of `key`, or `undefined` if it was never set. */
  get(key: string): Buffer | undefined {
    return this.values.get(key);
  }

  /** Stores `value` under `key` and releases every GET waiting for it. */
  set(key: string, value: Buffer): void {
    this.values.set(key, value);
    const waiting = this.waiters.get(key);
    if (!waiting) return;
    this.waiters.delete(key);
    for (const wake of waiting) wake(value);
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
}
