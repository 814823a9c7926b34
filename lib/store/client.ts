import { connect, type Socket } from 'node:net';
import { ByteQueue } from './byte-queue';
import { MAX_LINE_BYTES, isValidKey, parseAddress } from './protocol';

/** What the next reply line is expected to answer. */
/** `WATCH` answers a number or `TIMEOUT`. */
type Expect = 'OK' | 'VAL' | 'NUM' | 'WATCH';

interface Pending {
  expect: Expect;
  /** Names the request in error messages. */
  what: string;
  resolve: (reply: Buffer | bigint | null) => void;
  reject: (err: Error) => void;
}

/**
 * Minimal TypeScript client for the rendezvous store (docs/store-protocol.md), for tests and the
 * launcher. Workers use the native client; this one is not on any hot path.
 *
 * Requests may be issued without awaiting earlier ones; they are pipelined and answered in order.
 */
export class StoreClient {
  private readonly input = new ByteQueue();
  private readonly pending: Pending[] = [];
  /** Length of a VAL body still arriving for the head request. */
  private valueLength: number | null = null;
  private failure: Error | null = null;
  /** After unref(): the connection holds the process only while a request is in flight. */
  private idleUnref = false;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.input.push(chunk);
      this.process();
    });
    socket.on('error', (err) => this.failAll(new Error(`store connection failed: ${err.message}`)));
    socket.on('close', () => this.failAll(new Error('store connection closed')));
  }

  /**
   * Connects to `host:port` and authenticates with `token`.
   *
   * @throws Error if the connection fails or the server refuses the token
   */
  static async connect(address: string, token: string): Promise<StoreClient> {
    const { host, port } = parseAddress(address);
    const socket = connect({ host, port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new StoreClient(socket);
    await client.request(`AUTH ${token}\n`, 'OK', 'AUTH');
    return client;
  }

  /** Stores `value` (a string is sent as UTF-8) under `key`. */
  async set(key: string, value: Buffer | string): Promise<void> {
    checkKey(key);
    const body = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    await this.request(
      Buffer.concat([Buffer.from(`SET ${key} ${body.length}\n`, 'utf8'), body]),
      'OK',
      `SET ${key}`,
    );
  }

  /**
   * Returns the value of `key`, waiting up to `timeoutMs` for another client to set it.
   *
   * @throws Error with `code === 'ETIMEDOUT'` if the key is not set in time
   */
  async get(key: string, timeoutMs: number): Promise<Buffer> {
    checkKey(key);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 0) {
      throw new RangeError(`timeoutMs must be a non-negative integer, got ${timeoutMs}`);
    }
    const reply = await this.request(`GET ${key} ${timeoutMs}\n`, 'VAL', `GET ${key}`);
    if (reply === null) {
      throw Object.assign(new Error(`store GET ${key} timed out after ${timeoutMs} ms`), {
        code: 'ETIMEDOUT',
      });
    }
    return reply as Buffer;
  }

  /** Adds `delta` to the integer counter `key` (missing counts as 0) and returns the new value. */
  async add(key: string, delta: number | bigint): Promise<number> {
    checkKey(key);
    if (typeof delta === 'number' && !Number.isInteger(delta)) {
      throw new RangeError(`delta must be an integer, got ${delta}`);
    }
    const reply = await this.request(`ADD ${key} ${delta}\n`, 'NUM', `ADD ${key}`);
    return Number(reply as bigint);
  }

  /**
   * Stores `value` under `key` for as long as this connection lives: the store deletes it when
   * the connection closes, so a killed process's record disappears at once (a lease).
   */
  async setEphemeral(key: string, value: Buffer | string): Promise<void> {
    checkKey(key);
    const body = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    await this.request(Buffer.concat([Buffer.from(`SETE ${key} ${body.length}\n`, 'utf8'), body]), 'OK', `SETE ${key}`);
  }

  /** Deletes `key`; resolves to whether it existed. */
  async delete(key: string): Promise<boolean> {
    checkKey(key);
    return (await this.request(`DEL ${key}\n`, 'NUM', `DEL ${key}`)) === 1n;
  }

  /**
   * Sets `key` to `value` only if it currently holds `expect` (`null`: only if it is absent);
   * resolves to whether it did. Of several clients racing to create a key, exactly one wins.
   */
  async compareAndSet(key: string, expect: Buffer | string | null, value: Buffer | string): Promise<boolean> {
    checkKey(key);
    const old = expect === null ? null : typeof expect === 'string' ? Buffer.from(expect, 'utf8') : expect;
    const body = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    const line = Buffer.from(`CAS ${key} ${old === null ? '-' : old.length} ${body.length}\n`, 'utf8');
    return (await this.request(Buffer.concat([line, old ?? Buffer.alloc(0), body]), 'NUM', `CAS ${key}`)) === 1n;
  }

  /** Every key starting with `prefix`, with its value, and the store's revision at that moment. */
  async list(prefix: string): Promise<{ revision: number; entries: Map<string, Buffer> }> {
    checkKey(prefix);
    const reply = (await this.request(`LIST ${prefix}\n`, 'VAL', `LIST ${prefix}`)) as Buffer;
    const parsed = JSON.parse(reply.toString('utf8')) as { revision: number; entries: Record<string, string> };
    return { revision: parsed.revision, entries: new Map(Object.entries(parsed.entries).map(([k, v]) => [k, Buffer.from(v, 'base64')])) };
  }

  /**
   * Waits until a key starting with `prefix` changes after store revision `after` (at once if
   * one already has); resolves to the revision of that change, or null after `timeoutMs`.
   */
  async watch(prefix: string, after: number, timeoutMs: number): Promise<number | null> {
    checkKey(prefix);
    const reply = await this.request(`WATCH ${prefix} ${after} ${timeoutMs}\n`, 'WATCH', `WATCH ${prefix}`);
    return reply === null ? null : Number(reply as bigint);
  }

  /**
   * Lets the process exit while this connection is open (a background client, such as the
   * elastic membership's, must not keep a finished script alive).
   */
  unref(): void {
    this.idleUnref = true;
    if (this.pending.length === 0) this.socket.unref();
  }

  /** Closes the connection; requests still in flight are rejected. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end();
    });
  }

  private request(
    data: string | Buffer,
    expect: Expect,
    what: string,
  ): Promise<Buffer | bigint | null> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.idleUnref && this.pending.length === 0) this.socket.ref();
    return new Promise<Buffer | bigint | null>((resolve, reject) => {
      this.pending.push({ expect, what, resolve, reject });
      this.socket.write(data);
    }).finally(() => {
      if (this.idleUnref && this.pending.length === 0) this.socket.unref();
    });
  }

  private process(): void {
    while (this.pending.length > 0) {
      const head = this.pending[0];
      if (this.valueLength !== null) {
        const value = this.input.read(this.valueLength);
        if (value === null) return;
        this.valueLength = null;
        this.pending.shift();
        head.resolve(value);
        continue;
      }
      const line = this.input.readLine(MAX_LINE_BYTES);
      if (line === null) return;
      if (line === 'too-long') return this.protocolError('reply line too long');
      if (line.startsWith('ERR ')) {
        return this.failAll(new Error(`store refused ${head.what}: ${line.slice(4)}`));
      }
      if (head.expect === 'OK' && line === 'OK') {
        this.pending.shift();
        head.resolve(null);
      } else if ((head.expect === 'VAL' || head.expect === 'WATCH') && line === 'TIMEOUT') {
        this.pending.shift();
        head.resolve(null);
      } else if (head.expect === 'VAL' && /^VAL \d+$/.test(line)) {
        this.valueLength = Number(line.slice(4));
      } else if ((head.expect === 'NUM' || head.expect === 'WATCH') && /^NUM -?\d+$/.test(line)) {
        this.pending.shift();
        head.resolve(BigInt(line.slice(4)));
      } else {
        const shown = JSON.stringify(line.slice(0, 40));
        return this.protocolError(`unexpected reply ${shown} to ${head.what}`);
      }
    }
  }

  private protocolError(why: string): void {
    this.failAll(new Error(`store protocol error: ${why}`));
    this.socket.destroy();
  }

  private failAll(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.splice(0)) p.reject(err);
  }
}

function checkKey(key: string): void {
  if (!isValidKey(key)) throw new TypeError(`invalid store key ${JSON.stringify(key)}`);
}
