/**
 * {@link ElasticKV} over etcd (3.4 or later), spoken through etcd's gRPC gateway: JSON over HTTP
 * with Node's own `fetch`, so an elastic job needs no etcd client package and no gRPC stack.
 *
 * The gateway's JSON is protobuf's: `bytes` fields (keys, values) travel as base64, int64 fields
 * (revisions, lease IDs, TTLs) as decimal strings, and fields at their zero value are left out
 * altogether (`succeeded: false`, an empty `kvs`, a lease keepalive's `TTL: 0`).
 */
import { DtrainError } from '../common/errors';
import type { ElasticKV } from './kv';

/** Options for {@link EtcdKV.connect}. */
export interface EtcdKVOptions {
  /**
   * Seconds the cluster keeps this client's ephemeral keys after its last keepalive; default 3.
   * It is how long a killed worker stays listed, so keep it short; the keepalive runs every third.
   */
  leaseTtlSec?: number;
  /**
   * Prepended to every key (and stripped from the keys {@link EtcdKV.list} returns), so that
   * several jobs can share one etcd; end it with a separator, e.g. `jobs/resnet-7/`.
   */
  namespace?: string;
  /** How long connect() keeps trying to reach a member before it fails; default 5000 ms. */
  connectTimeoutMs?: number;
  /** How long one attempt on one member may take before the next member is tried; default 2000 ms. */
  requestTimeoutMs?: number;
  /**
   * How long an operation keeps trying the members (during an election none may answer) before
   * it fails naming each member's failure; default 5000 ms.
   */
  operationTimeoutMs?: number;
  /**
   * Told about trouble in the background, where nobody awaits: keepalives that reached no
   * member (they go on being retried) and a lease that expired regardless (the keys are put
   * again under a new one). Default: one line on stderr.
   */
  onError?: (err: Error) => void;
}

/** One member's client URL, and how it is named in messages. */
export interface EtcdEndpoint {
  /** `http://host:port`, where requests go. */
  base: string;
  /** `host:port`, as failures name it. */
  name: string;
}

/** A key-value pair as the gateway sends it (base64 bytes, int64 as strings). */
interface WireKV {
  key?: string;
  value?: string;
  mod_revision?: string;
  create_revision?: string;
}

interface WireHeader {
  revision?: string;
}

interface RangeReply {
  header?: WireHeader;
  kvs?: WireKV[];
}

interface TxnReply {
  header?: WireHeader;
  succeeded?: boolean;
  responses?: { response_range?: RangeReply }[];
}

interface LeaseReply {
  ID?: string;
  TTL?: string;
}

/**
 * A member could not serve the request (unreachable, too slow, between leaders): another member
 * may, so the request moves on. `unsent` marks failures where the request surely never arrived.
 */
class EndpointFailure extends Error {
  constructor(
    message: string,
    readonly unsent = false,
  ) {
    super(message);
  }
}

/**
 * gRPC status codes that say "this member, now" rather than "this request": Canceled,
 * DeadlineExceeded, ResourceExhausted and Unavailable (etcd's "no leader", "leader changed",
 * "request timed out", "too many requests").
 */
const RETRYABLE_GRPC = new Set([1, 4, 8, 14]);

const DEFAULT_TTL_SEC = 3;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_REQUEST_TIMEOUT_MS = 2000;
const DEFAULT_OPERATION_TIMEOUT_MS = 5000;
/** Shortest attempt worth making: below this a slow-but-healthy member would be written off. */
const MIN_ATTEMPT_MS = 250;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const b64 = (bytes: Buffer): string => bytes.toString('base64');
const unb64 = (text: string | undefined): Buffer => Buffer.from(text ?? '', 'base64');
const int = (text: string | undefined): number => (text === undefined ? 0 : Number(text));

/**
 * Parses `etcd://host:port[,host:port...]`; items may also be `http://host:port` or
 * `https://host:port` (the whole list may start with either scheme instead of `etcd://`).
 * A missing port is etcd's client port, 2379.
 */
export function parseEtcdUrl(url: string): EtcdEndpoint[] {
  const list = url.startsWith('etcd://') ? url.slice('etcd://'.length) : url;
  const items = list.split(',').map((s) => s.trim());
  if (items.length === 0 || items.some((s) => s === '')) {
    throw new RangeError(`etcd URL must be etcd://host:port[,host:port...], got '${url}'`);
  }
  return items.map((item) => {
    const m = /^(?:(https?):\/\/)?(\[[0-9a-fA-F:.]+\]|[^\s:/[\]@,]+)(?::(\d{1,5}))?\/?$/.exec(item);
    const port = m ? Number(m[3] ?? 2379) : 0;
    if (!m || port < 1 || port > 65535) {
      throw new RangeError(`etcd URL must be etcd://host:port[,host:port...], got '${url}' (bad endpoint '${item}')`);
    }
    const name = `${m[2]}:${port}`;
    return { base: `${m[1] ?? 'http'}://${name}`, name };
  });
}

/** The end of etcd's range of keys starting with `prefix`: the prefix with its last byte + 1. */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  // Empty or all 0xff: etcd reads a range_end of "\0" as "every key from `key` on".
  return Buffer.from([0]);
}

/** The text of a fetch failure: undici hides the socket's reason in `cause`. */
function describeFetchError(err: unknown, endpoint: EtcdEndpoint, timeoutMs: number): EndpointFailure {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return new EndpointFailure(`no answer within ${timeoutMs} ms`);
  const cause = e.cause;
  if (cause?.message) {
    // "connect ECONNREFUSED 127.0.0.1:2379": the address is already in front of the message.
    const text = cause.message.endsWith(` ${endpoint.name}`) ? cause.message.slice(0, -endpoint.name.length - 1) : cause.message;
    return new EndpointFailure(text, cause.code === 'ECONNREFUSED' || cause.code === 'ENOTFOUND');
  }
  return new EndpointFailure(e.message ?? String(err));
}

/** The error the gateway sent (`{code, message}`, or `{error: {grpc_code, message}}` on a stream). */
function gatewayError(body: unknown): { code?: number; message: string } | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as { code?: number; message?: string; error?: unknown };
  if (typeof b.error === 'object' && b.error !== null) {
    const e = b.error as { grpc_code?: number; message?: string };
    return { code: e.grpc_code, message: e.message ?? JSON.stringify(b.error) };
  }
  if (typeof b.error === 'string' || typeof b.message === 'string') return { code: b.code, message: b.message ?? String(b.error) };
  return undefined;
}

/** A DtrainError naming every member and why each failed. */
function unreachable(endpoints: EtcdEndpoint[], failures: Map<string, string>, what: string): DtrainError {
  const reasons = endpoints.map((e) => `${e.name}: ${failures.get(e.name) ?? 'not tried in time'}`).join('; ');
  return new DtrainError(`etcd: no endpoint answered ${what} (${reasons})`, 'ERR_DTRAIN_BOOTSTRAP');
}

/**
 * {@link ElasticKV} over an etcd cluster. Every request goes to one member, starting with the
 * last that answered, and moves to the next when a member is down, slow or between leaders,
 * so the client rides out the loss of any minority of the cluster. Ephemeral keys hang off one
 * lease, granted at connect and kept alive in the background; they vanish a TTL after the
 * process dies, or at once on {@link close}.
 *
 * @example
 * ```ts
 * const kv = await EtcdKV.connect('etcd://10.0.0.1:2379,10.0.0.2:2379', { namespace: 'job-7/' });
 * await kv.putEphemeral('alive/w0', 'host-a');
 * ```
 */
export class EtcdKV implements ElasticKV {
  readonly description: string;
  /** Index into `endpoints` of the member that answered last: tried first next time. */
  private current = 0;
  private lease: string;
  /** The ephemeral keys (namespaced) and values, to put again should the lease be lost. */
  private readonly ephemeral = new Map<string, string>();
  private keepaliveTimer: NodeJS.Timeout | null = null;
  private keepaliveRunning = false;
  /** Set when a re-grant could not put every ephemeral key back; the next keepalive tries again. */
  private republish = false;
  /** Open watch streams, aborted by close() so that no socket outlives the client. */
  private readonly watches = new Set<AbortController>();
  private closed = false;
  private readonly namespace: Buffer;

  private constructor(
    private readonly endpoints: EtcdEndpoint[],
    lease: string,
    private readonly ttlSec: number,
    private readonly options: EtcdKVOptions,
  ) {
    this.lease = lease;
    this.namespace = Buffer.from(options.namespace ?? '', 'utf8');
    const ns = options.namespace ? ` (namespace '${options.namespace}')` : '';
    this.description = `etcd at ${endpoints.map((e) => e.name).join(',')}${ns}`;
  }

  /**
   * Connects to the cluster at `url` (`etcd://host:port[,host:port...]`) and grants the lease
   * this client's ephemeral keys will hang off.
   *
   * @throws RangeError if `url` or an option is malformed
   * @throws DtrainError (code ERR_DTRAIN_BOOTSTRAP) naming every member's failure, if none
   *   answered within `connectTimeoutMs`
   */
  static async connect(url: string, options: EtcdKVOptions = {}): Promise<EtcdKV> {
    const endpoints = parseEtcdUrl(url);
    const ttl = options.leaseTtlSec ?? DEFAULT_TTL_SEC;
    if (!Number.isInteger(ttl) || ttl < 1) throw new RangeError(`leaseTtlSec must be a positive integer, got ${ttl}`);
    for (const name of ['connectTimeoutMs', 'requestTimeoutMs', 'operationTimeoutMs'] as const) {
      const v = options[name];
      if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new RangeError(`${name} must be a positive number, got ${v}`);
    }
    const kv = new EtcdKV(endpoints, '', ttl, options);
    const granted = await kv.call<LeaseReply>('/v3/lease/grant', { TTL: String(ttl) }, {
      what: 'a lease grant at connect',
      budgetMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    });
    if (!granted.ID) throw new DtrainError(`etcd: ${kv.description} granted no lease`, 'ERR_DTRAIN_BOOTSTRAP');
    kv.lease = granted.ID;
    kv.scheduleKeepalive();
    return kv;
  }

  async putEphemeral(key: string, value: string): Promise<void> {
    const k = this.key(key);
    this.ephemeral.set(k.toString('latin1'), value);
    try {
      await this.putWithLease(k, value);
    } catch (err) {
      this.ephemeral.delete(k.toString('latin1'));
      throw err;
    }
  }

  async put(key: string, value: string): Promise<void> {
    const k = this.key(key);
    // A plain put takes the key off the lease; it must not come back on a re-grant either.
    this.ephemeral.delete(k.toString('latin1'));
    await this.call('/v3/kv/put', { key: b64(k), value: b64(Buffer.from(value, 'utf8')) }, { what: `a put of ${key}` });
  }

  async get(key: string): Promise<string | undefined> {
    const reply = await this.call<RangeReply>('/v3/kv/range', { key: b64(this.key(key)) }, { what: `a get of ${key}` });
    const kv = reply.kvs?.[0];
    return kv === undefined ? undefined : unb64(kv.value).toString('utf8');
  }

  async createIfAbsent(key: string, value: string): Promise<boolean> {
    const k = b64(this.key(key));
    const v = Buffer.from(value, 'utf8');
    let ambiguous = false;
    const reply = await this.call<TxnReply>(
      '/v3/kv/txn',
      {
        // create_revision 0 is how etcd says "absent" (a deleted key's goes back to 0).
        compare: [{ target: 'CREATE', result: 'EQUAL', key: k, create_revision: '0' }],
        success: [{ request_put: { key: k, value: b64(v) } }],
        failure: [{ request_range: { key: k } }],
      },
      { what: `a create of ${key}`, onAmbiguous: () => (ambiguous = true) },
    );
    if (reply.succeeded === true) return true;
    // An earlier attempt may have committed without its answer reaching us; then the key holds
    // our value and nobody else can have won (they would have seen it present). When a racer
    // wrote the very same bytes we cannot tell, and claiming the win is the lesser harm: both
    // would act on identical contents.
    if (!ambiguous) return false;
    const existing = reply.responses?.[0]?.response_range?.kvs?.[0];
    return existing !== undefined && unb64(existing.value).equals(v);
  }

  async delete(key: string): Promise<void> {
    const k = this.key(key);
    this.ephemeral.delete(k.toString('latin1'));
    await this.call('/v3/kv/deleterange', { key: b64(k) }, { what: `a delete of ${key}` });
  }

  async list(prefix: string): Promise<{ revision: number; entries: Map<string, string> }> {
    const start = this.key(prefix);
    const reply = await this.call<RangeReply>('/v3/kv/range', this.rangeOf(start), { what: `a list of ${prefix}` });
    const entries = new Map<string, string>();
    for (const kv of reply.kvs ?? []) {
      entries.set(unb64(kv.key).subarray(this.namespace.length).toString('utf8'), unb64(kv.value).toString('utf8'));
    }
    return { revision: int(reply.header?.revision), entries };
  }

  /**
   * Streams etcd's watch from `revision + 1`, so a change made after the list() that returned
   * `revision` counts even when it happened before this call; a broken stream is reopened on
   * the next member from the same revision, so failover loses nothing either. If etcd has
   * compacted past `revision` it cannot say what changed, and this resolves true: the caller
   * lists again, which is what a change means to it anyway.
   *
   * @throws DtrainError (ERR_DTRAIN_BOOTSTRAP) if no member could be watched for
   *   `operationTimeoutMs` in a row
   */
  async watch(prefix: string, revision: number, timeoutMs: number): Promise<boolean> {
    this.checkOpen();
    const range = { ...this.rangeOf(this.key(prefix)), start_revision: String(Math.max(0, Math.floor(revision)) + 1) };
    const deadline = Date.now() + Math.max(0, timeoutMs);
    const budget = this.options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;
    const failures = new Map<string, string>();
    let failingSince: number | null = null;
    let failedInRow = 0;
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        if (failedInRow >= this.endpoints.length) throw unreachable(this.endpoints, failures, `a watch of ${prefix}`);
        return false;
      }
      const index = this.current;
      const endpoint = this.endpoints[index];
      try {
        const outcome = await this.watchOn(endpoint, range, remaining, () => {
          this.current = index;
          failingSince = null;
          failedInRow = 0;
        });
        return outcome;
      } catch (err) {
        if (!(err instanceof EndpointFailure)) throw err;
        failures.set(endpoint.name, err.message);
        failingSince ??= Date.now();
        failedInRow++;
        if (this.current === index) this.current = (index + 1) % this.endpoints.length;
        if (failedInRow >= this.endpoints.length) {
          if (Date.now() - failingSince >= budget) throw unreachable(this.endpoints, failures, `a watch of ${prefix}`);
          if (failedInRow % this.endpoints.length === 0) await sleep(Math.min(100, Math.max(0, deadline - Date.now())));
        }
      }
    }
  }

  /** Stops the keepalive and revokes the lease, so the ephemeral keys go now rather than a TTL later. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.keepaliveTimer) clearTimeout(this.keepaliveTimer);
    this.keepaliveTimer = null;
    for (const controller of this.watches) controller.abort();
    this.watches.clear();
    try {
      await this.call('/v3/lease/revoke', { ID: this.lease }, { what: 'a lease revoke', budgetMs: 1000, evenIfClosed: true });
    } catch {
      // Best effort: unrevoked, the lease still expires within its TTL.
    }
  }

  /** The namespaced key as bytes. */
  private key(key: string): Buffer {
    return Buffer.concat([this.namespace, Buffer.from(key, 'utf8')]);
  }

  private rangeOf(start: Buffer): { key: string; range_end: string } {
    // An empty key is not a range etcd accepts; "\0" is the smallest key there is.
    const key = start.length === 0 ? Buffer.from([0]) : start;
    return { key: b64(key), range_end: b64(prefixEnd(start)) };
  }

  private checkOpen(): void {
    if (this.closed) throw new DtrainError(`etcd: ${this.description} was closed`, 'ERR_DTRAIN_CLOSED');
  }

  private async putWithLease(k: Buffer, value: string): Promise<void> {
    const body = () => ({ key: b64(k), value: b64(Buffer.from(value, 'utf8')), lease: this.lease });
    try {
      await this.call('/v3/kv/put', body(), { what: `an ephemeral put of ${k.toString('utf8')}` });
    } catch (err) {
      // The lease expired under us (a stall longer than the TTL): take a new one and retry.
      if (!/lease not found/.test((err as Error).message)) throw err;
      await this.regrant();
      await this.call('/v3/kv/put', body(), { what: `an ephemeral put of ${k.toString('utf8')}` });
    }
  }

  private scheduleKeepalive(): void {
    if (this.closed) return;
    this.keepaliveTimer = setTimeout(() => void this.keepalive(), (this.ttlSec * 1000) / 3);
    // The lease must not keep a finished process alive; it is the process's liveness, after all.
    this.keepaliveTimer.unref();
  }

  private async keepalive(): Promise<void> {
    if (this.closed || this.keepaliveRunning) return;
    this.keepaliveRunning = true;
    try {
      // Keep trying for most of a TTL: past that, the lease is gone whatever we do.
      const reply = await this.call<LeaseReply>('/v3/lease/keepalive', { ID: this.lease }, {
        what: 'a lease keepalive',
        budgetMs: this.ttlSec * 1000,
        attemptMs: Math.max(MIN_ATTEMPT_MS, (this.ttlSec * 1000) / 3),
        stream: true,
      });
      if (this.republish && int(reply.TTL) > 0) await this.putEphemeralKeys();
      // A keepalive on an expired lease still "succeeds", with TTL 0 (left out of the JSON).
      if (int(reply.TTL) <= 0 && !this.closed) {
        const lost = this.lease;
        await this.regrant();
        this.report(
          new DtrainError(
            `etcd: lease ${lost} expired before its keepalive got through; ${this.ephemeral.size} ephemeral key(s) put again under lease ${this.lease}`,
            'ERR_DTRAIN_SYSTEM',
          ),
        );
      }
    } catch (err) {
      if (!this.closed) this.report(err as Error);
    } finally {
      this.keepaliveRunning = false;
      this.scheduleKeepalive();
    }
  }

  /** Takes a new lease and puts every ephemeral key back under it. */
  private async regrant(): Promise<void> {
    const granted = await this.call<LeaseReply>('/v3/lease/grant', { TTL: String(this.ttlSec) }, { what: 'a lease grant' });
    if (!granted.ID) throw new DtrainError(`etcd: ${this.description} granted no lease`, 'ERR_DTRAIN_SYSTEM');
    this.lease = granted.ID;
    await this.putEphemeralKeys();
  }

  /** Puts every ephemeral key under the current lease; on failure leaves `republish` set. */
  private async putEphemeralKeys(): Promise<void> {
    this.republish = true;
    for (const [k, value] of this.ephemeral) {
      const key = Buffer.from(k, 'latin1');
      await this.call('/v3/kv/put', { key: b64(key), value: b64(Buffer.from(value, 'utf8')), lease: this.lease }, {
        what: `an ephemeral put of ${key.toString('utf8')}`,
      });
    }
    this.republish = false;
  }

  private report(err: Error): void {
    if (this.options.onError) this.options.onError(err);
    else process.stderr.write(`dtrain: ${err.message}\n`);
  }

  /**
   * POSTs `body` to `path`, trying the members in turn from the last that answered, round after
   * round, until one answers or `budgetMs` is spent. An error etcd gives for the request itself
   * (a missing lease, a bad argument) is thrown at once: no other member would answer otherwise.
   */
  private async call<T = unknown>(
    path: string,
    body: object,
    opts: {
      what: string;
      budgetMs?: number;
      attemptMs?: number;
      /** The gateway answers a stream endpoint with `{"result": ...}` lines. */
      stream?: boolean;
      /** Called when an attempt may have been applied though no answer came back. */
      onAmbiguous?: () => void;
      evenIfClosed?: boolean;
    },
  ): Promise<T> {
    if (!opts.evenIfClosed) this.checkOpen();
    const start = Date.now();
    const deadline = start + (opts.budgetMs ?? this.options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS);
    const attemptMs = opts.attemptMs ?? this.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const failures = new Map<string, string>();
    const n = this.endpoints.length;
    for (let round = 0; ; round++) {
      const first = this.current;
      for (let i = 0; i < n; i++) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw unreachable(this.endpoints, failures, opts.what);
        const index = (first + i) % n;
        const endpoint = this.endpoints[index];
        // Leave the rest of the first round time to try the other members too.
        const share = round === 0 ? remaining / (n - i) : remaining;
        const timeout = Math.round(Math.min(attemptMs, Math.max(share, Math.min(MIN_ATTEMPT_MS, remaining))));
        try {
          const reply = await this.attempt(endpoint, path, body, timeout, opts.stream === true);
          this.current = index;
          return reply as T;
        } catch (err) {
          if (!(err instanceof EndpointFailure)) throw err;
          if (!err.unsent) opts.onAmbiguous?.();
          failures.set(endpoint.name, err.message);
        }
      }
      const pause = Math.min(100 * 2 ** round, 500, deadline - Date.now());
      if (pause > 0) await sleep(pause);
    }
  }

  /** One request to one member; EndpointFailure when another member might do better. */
  private async attempt(endpoint: EtcdEndpoint, path: string, body: object, timeoutMs: number, stream: boolean): Promise<unknown> {
    let res: Response;
    let text: string;
    try {
      res = await fetch(endpoint.base + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'grpc-metadata-hasleader': 'true' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      throw describeFetchError(err, endpoint, timeoutMs);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(stream ? text.split('\n')[0] : text);
    } catch {
      throw new EndpointFailure(`HTTP ${res.status} with a body that is not JSON: ${JSON.stringify(text.slice(0, 120))}`);
    }
    const failure = gatewayError(parsed);
    if (failure || !res.ok) {
      const message = failure?.message ?? `HTTP ${res.status}`;
      const retryable = failure?.code === undefined ? res.status >= 500 : RETRYABLE_GRPC.has(failure.code);
      if (retryable) throw new EndpointFailure(message);
      throw new DtrainError(`etcd: ${endpoint.name} refused ${path}: ${message}`, 'ERR_DTRAIN_SYSTEM');
    }
    return stream ? ((parsed as { result?: unknown }).result ?? {}) : parsed;
  }

  /**
   * One watch stream on one member: true at the first event, false at `timeoutMs`; a stream that
   * breaks or is cancelled by the member is an EndpointFailure, to be reopened elsewhere.
   */
  private async watchOn(endpoint: EtcdEndpoint, range: object, timeoutMs: number, onCreated: () => void): Promise<boolean> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    this.watches.add(controller);
    try {
      const res = await fetch(endpoint.base + '/v3/watch', {
        method: 'POST',
        // hasleader: a member cut off from the others cancels the stream instead of going quiet.
        headers: { 'content-type': 'application/json', 'grpc-metadata-hasleader': 'true' },
        body: JSON.stringify({ create_request: range }),
        signal: controller.signal,
      });
      if (!res.ok || !res.body) {
        const text = await res.text().catch(() => '');
        let message = `HTTP ${res.status}`;
        try {
          message = gatewayError(JSON.parse(text))?.message ?? message;
        } catch {
          // not JSON: the status says enough
        }
        throw new EndpointFailure(`watch refused: ${message}`);
      }
      const decoder = new TextDecoder();
      let buffered = '';
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line === '') continue;
          const message = JSON.parse(line) as {
            result?: { created?: boolean; canceled?: boolean; compact_revision?: string; cancel_reason?: string; events?: unknown[] };
          };
          const failure = gatewayError(message);
          if (failure) throw new EndpointFailure(`watch failed: ${failure.message}`);
          const result = message.result ?? {};
          if (result.events && result.events.length > 0) return true;
          if (result.canceled) {
            if (int(result.compact_revision) > 0) return true;
            throw new EndpointFailure(`watch cancelled: ${result.cancel_reason ?? 'no reason given'}`);
          }
          if (result.created) onCreated();
        }
      }
      throw new EndpointFailure('watch stream ended');
    } catch (err) {
      if (timedOut) return false;
      if (this.closed) throw new DtrainError(`etcd: ${this.description} was closed during a watch`, 'ERR_DTRAIN_CLOSED');
      if (err instanceof EndpointFailure || err instanceof DtrainError) throw err;
      if (err instanceof SyntaxError) throw new EndpointFailure(`watch sent something that is not JSON: ${err.message}`);
      throw describeFetchError(err, endpoint, timeoutMs);
    } finally {
      clearTimeout(timer);
      this.watches.delete(controller);
      controller.abort();
    }
  }
}
