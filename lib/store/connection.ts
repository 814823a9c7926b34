import { createHash, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { ByteQueue } from './byte-queue';
import { MAX_LINE_BYTES, parseRequest } from './protocol';
import type { KeyValueTable } from './table';

/** `AUTH ` plus a 64-character token, with room to spare; anything longer is not a token. */
const MAX_AUTH_LINE_BYTES = 256;

/** Longest delay setTimeout accepts; larger GET timeouts are clamped to it (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** How long a closing connection may linger for its peer to hang up before it is destroyed. */
const LINGER_MS = 2000;

/** What a connection needs from the server that accepted it. */
export interface ConnectionContext {
  table: KeyValueTable;
  /** SHA-256 of the job token. */
  tokenDigest: Buffer;
  authTimeoutMs: number;
  log: (message: string) => void;
  onClosed: (connection: StoreConnection) => void;
}

/** A reply slot; `data` stays null while a GET is still waiting, holding back later replies. */
interface Reply {
  data: Buffer | null;
}

/**
 * One client connection to the store: authenticates it, parses its requests from however TCP
 * chunks them, and writes the replies in request order.
 *
 * Requests take effect as soon as they are parsed, even while an earlier GET on the same
 * connection is still waiting; only the replies are held back to keep them in order.
 */
export class StoreConnection {
  private state: 'auth' | 'ready' | 'closing' = 'auth';
  private readonly input = new ByteQueue();
  /** A SET or CAS whose line has been read but whose value bytes are still arriving. */
  private pendingBody: { key: string; length: number; ephemeral: boolean; expectLength?: number | null } | null = null;
  private readonly replies: Reply[] = [];
  /** Cancels outstanding GET waits and timers when the connection goes away. */
  private readonly cleanups = new Set<() => void>();
  private readonly peer: string;
  private authTimer: NodeJS.Timeout | null;

  constructor(
    private readonly socket: Socket,
    private readonly ctx: ConnectionContext,
  ) {
    this.peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    socket.setNoDelay(true);
    this.authTimer = setTimeout(
      () => this.refuse(`no AUTH within ${ctx.authTimeoutMs / 1000} s`, 'auth timeout'),
      ctx.authTimeoutMs,
    );
    socket.on('data', (chunk: Buffer) => {
      if (this.state === 'closing') return;
      this.input.push(chunk);
      this.process();
    });
    // 'close' always follows 'error'; the handler only stops the error from being thrown.
    socket.on('error', () => {});
    socket.on('close', () => this.cleanup());
  }

  /** Drops the connection at once (used when the server shuts down). */
  destroy(): void {
    this.socket.destroy();
    this.cleanup();
  }

  private process(): void {
    while (this.state !== 'closing') {
      if (this.state === 'auth') {
        const line = this.input.readLine(MAX_AUTH_LINE_BYTES);
        if (line === null) return;
        if (line === 'too-long') return this.refuse('AUTH line too long', 'expected AUTH');
        this.authenticate(line);
        continue;
      }
      if (this.pendingBody) {
        const body = this.pendingBody;
        const expectLength = body.expectLength ?? 0;
        const bytes = this.input.read(expectLength + body.length);
        if (bytes === null) return;
        this.pendingBody = null;
        // Copy so the stored value does not pin the whole socket read buffer it was sliced from.
        const value = Buffer.from(bytes.subarray(expectLength));
        if (body.expectLength === undefined) {
          this.ctx.table.set(body.key, value, body.ephemeral ? this : undefined);
          this.reply('OK\n');
        } else {
          const expect = body.expectLength === null ? null : bytes.subarray(0, expectLength);
          this.reply(`NUM ${this.ctx.table.compareAndSet(body.key, expect, value) ? 1 : 0}\n`);
        }
        continue;
      }
      const line = this.input.readLine(MAX_LINE_BYTES);
      if (line === null) return;
      if (line === 'too-long') return this.fail('request line too long');
      this.handle(line);
    }
  }

  private authenticate(line: string): void {
    if (!line.startsWith('AUTH ')) {
      return this.refuse('sent a request before AUTH', 'expected AUTH');
    }
    // Compare fixed-size digests: timingSafeEqual needs equal lengths, and comparing raw tokens
    // of different lengths would leak the expected length through the early exit.
    const offered = createHash('sha256').update(line.slice(5), 'latin1').digest();
    if (!timingSafeEqual(offered, this.ctx.tokenDigest)) {
      return this.refuse('bad token', 'bad token');
    }
    this.clearAuthTimer();
    this.state = 'ready';
    this.reply('OK\n');
  }

  private handle(line: string): void {
    const request = parseRequest(line);
    switch (request.kind) {
      case 'malformed':
        return this.fail(request.why);
      case 'SET':
        this.pendingBody = { key: request.key, length: request.length, ephemeral: request.ephemeral };
        return;
      case 'CAS':
        this.pendingBody = { key: request.key, length: request.length, ephemeral: false, expectLength: request.expectLength };
        return;
      case 'DEL':
        return this.reply(`NUM ${this.ctx.table.delete(request.key) ? 1 : 0}\n`);
      case 'LIST': {
        // Keys and values as JSON (values base64): the membership reads a few small records.
        const entries = Object.fromEntries(this.ctx.table.list(request.prefix).map(([k, v]) => [k, v.toString('base64')]));
        return this.reply(valueReply(Buffer.from(JSON.stringify({ revision: this.ctx.table.revision, entries }), 'utf8')));
      }
      case 'WATCH':
        return this.watch(request.prefix, request.revision, request.timeoutMs);
      case 'ADD': {
        const result = this.ctx.table.add(request.key, request.delta);
        if (typeof result !== 'bigint') return this.fail(`ADD ${request.key}: ${result.why}`);
        return this.reply(`NUM ${result}\n`);
      }
      case 'GET':
        return this.get(request.key, request.timeoutMs);
    }
  }

  private get(key: string, timeoutMs: number): void {
    const present = this.ctx.table.get(key);
    if (present !== undefined) return this.reply(valueReply(present));
    if (timeoutMs === 0) return this.reply('TIMEOUT\n');

    const slot: Reply = { data: null };
    this.replies.push(slot);
    const stop = (): void => {
      cancelWait();
      clearTimeout(timer);
      this.cleanups.delete(stop);
    };
    const finish = (data: Buffer): void => {
      stop();
      slot.data = data;
      this.flush();
    };
    const cancelWait = this.ctx.table.wait(key, (value) => finish(valueReply(value)));
    const timer = setTimeout(
      () => finish(Buffer.from('TIMEOUT\n', 'latin1')),
      Math.min(timeoutMs, MAX_TIMER_MS),
    );
    this.cleanups.add(stop);
  }

  private watch(prefix: string, after: number, timeoutMs: number): void {
    const slot: Reply = { data: null };
    this.replies.push(slot);
    let done = false;
    const finish = (data: string): void => {
      if (done) return;
      done = true;
      cancel?.();
      clearTimeout(timer);
      this.cleanups.delete(stop);
      slot.data = Buffer.from(data, 'latin1');
      this.flush();
    };
    const stop = (): void => {
      done = true;
      cancel?.();
      clearTimeout(timer);
    };
    let cancel: (() => void) | undefined;
    const timer = setTimeout(() => finish('TIMEOUT\n'), Math.min(timeoutMs, MAX_TIMER_MS));
    this.cleanups.add(stop);
    cancel = this.ctx.table.watch(prefix, after, (revision) => finish(`NUM ${revision}\n`));
  }

  private reply(data: string | Buffer): void {
    this.replies.push({ data: typeof data === 'string' ? Buffer.from(data, 'latin1') : data });
    this.flush();
  }

  private flush(): void {
    if (this.socket.destroyed) return;
    this.socket.cork();
    while (this.replies.length > 0 && this.replies[0].data !== null) {
      this.socket.write(this.replies.shift()!.data!);
    }
    this.socket.uncork();
  }

  /** Rejects a connection that has not authenticated; logged because it may be an intruder. */
  private refuse(why: string, reply: string): void {
    this.ctx.log(`dtrain store: refused connection from ${this.peer}: ${why}`);
    this.closeWith(`ERR ${reply}\n`);
  }

  /** Ends an authenticated connection that sent something malformed. */
  private fail(why: string): void {
    this.ctx.log(`dtrain store: dropped connection from ${this.peer}: ${why}`);
    this.closeWith(`ERR ${why}\n`);
  }

  /**
   * Sends a final line and hangs up. Replies still waiting on a GET are abandoned: the error is
   * fatal to the connection, so making the client wait out those timeouts first gains nothing.
   */
  private closeWith(line: string): void {
    this.state = 'closing';
    this.input.clear();
    this.clearAuthTimer();
    this.runCleanups();
    const ready = this.replies.findIndex((r) => r.data === null);
    if (ready >= 0) this.replies.length = ready;
    this.flush();
    this.replies.length = 0;
    // end() rather than destroy(): destroying with unread input sends a RST, which can discard
    // the ERR line before the peer reads it. The timer covers peers that never hang up.
    this.socket.end(line);
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  private clearAuthTimer(): void {
    if (this.authTimer) clearTimeout(this.authTimer);
    this.authTimer = null;
  }

  private runCleanups(): void {
    for (const cleanup of this.cleanups) cleanup();
    this.cleanups.clear();
  }

  private cleanup(): void {
    if (this.state !== 'closing') this.state = 'closing';
    this.clearAuthTimer();
    this.runCleanups();
    // A worker's liveness record goes with its connection: the store sees a killed process at once.
    this.ctx.table.dropOwned(this);
    this.ctx.onClosed(this);
  }
}

function valueReply(value: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`VAL ${value.length}\n`, 'latin1'), value]);
}
