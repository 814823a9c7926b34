/**
 * The operations elastic membership needs from a key-value store, with two implementations:
 * the launcher's built-in store ({@link BuiltinKV}) and etcd (`etcd-kv.ts`, Raft-replicated).
 * Membership is decided only through these: a generation's member list is written once, by a
 * create-if-absent that exactly one writer wins, and liveness records vanish with their owner.
 */
import { StoreClient } from '../store/client';

/** A key-value store with leases, create-if-absent, prefix listing and prefix watches. */
export interface ElasticKV {
  /** Where it is, for messages (`dtrain store 127.0.0.1:4000`, `etcd http://...`). */
  readonly description: string;
  /** Stores `value` under `key` for as long as this client lives (connection or lease). */
  putEphemeral(key: string, value: string): Promise<void>;
  put(key: string, value: string): Promise<void>;
  /** The value, or undefined when absent. */
  get(key: string): Promise<string | undefined>;
  /** Creates `key` with `value` if it is absent; resolves to whether this call created it. */
  createIfAbsent(key: string, value: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Every key under `prefix` with its value, and the store revision they were read at. */
  list(prefix: string): Promise<{ revision: number; entries: Map<string, string> }>;
  /**
   * Resolves once a key under `prefix` changes after `revision` (true), or after `timeoutMs`
   * without a change (false).
   */
  watch(prefix: string, revision: number, timeoutMs: number): Promise<boolean>;
  /** Ends the client: its ephemeral keys go away. */
  close(): Promise<void>;
}

/** {@link ElasticKV} over the launcher's store (docs/store-protocol.md); ephemeral = per connection. */
export class BuiltinKV implements ElasticKV {
  /**
   * Connections for watches, one per watch in progress: a connection answers in order, so a
   * watch waiting on it would hold back every later request.
   */
  private readonly idle: StoreClient[] = [];
  private readonly watchers = new Set<StoreClient>();

  private constructor(
    private readonly client: StoreClient,
    readonly description: string,
    private readonly address: string,
    private readonly token: string,
  ) {}

  /** Connects to the store at `address` with the job's `token`. */
  static async connect(address: string, token: string): Promise<BuiltinKV> {
    const client = await StoreClient.connect(address, token);
    client.unref();
    return new BuiltinKV(client, `the launcher's store at ${address}`, address, token);
  }

  putEphemeral(key: string, value: string): Promise<void> {
    return this.client.setEphemeral(key, value);
  }
  put(key: string, value: string): Promise<void> {
    return this.client.set(key, value);
  }
  async get(key: string): Promise<string | undefined> {
    try {
      return (await this.client.get(key, 0)).toString('utf8');
    } catch (err) {
      if ((err as { code?: string }).code === 'ETIMEDOUT') return undefined;
      throw err;
    }
  }
  createIfAbsent(key: string, value: string): Promise<boolean> {
    return this.client.compareAndSet(key, null, value);
  }
  async delete(key: string): Promise<void> {
    await this.client.delete(key);
  }
  async list(prefix: string): Promise<{ revision: number; entries: Map<string, string> }> {
    const { revision, entries } = await this.client.list(prefix);
    return { revision, entries: new Map([...entries].map(([k, v]) => [k, v.toString('utf8')])) };
  }
  async watch(prefix: string, revision: number, timeoutMs: number): Promise<boolean> {
    let c = this.idle.pop();
    if (!c) {
      c = await StoreClient.connect(this.address, this.token);
      c.unref();
      this.watchers.add(c);
    }
    const changed = (await c.watch(prefix, revision, Math.max(0, Math.round(timeoutMs)))) !== null;
    this.idle.push(c);
    return changed;
  }
  async close(): Promise<void> {
    await Promise.all([...this.watchers].map((c) => c.close()));
    await this.client.close();
  }
}
