/**
 * The worker's side of the parameter server: registers keys, pushes gradients and pulls values,
 * talking to every server at once over the pair communicators of the job (job.ts).
 */
import { checkOptions } from '../common/args';
import { DtrainError } from '../common/errors';
import type { Parameter } from '../common/parameter';
import type { Compressor } from '../compress/compressor';
import { compressorConfig } from '../compress/compressor';
import { makeCompressor } from '../compress/registry';
import type { Optimizer } from '../optim/optimizer';
import { bucketOf, encoderFor, type Encoder } from './codec';
import type { PsJob } from './job';
import { DEFAULT_BIG_ARRAY_BOUND, layoutSignature, makeLayout, type KeySpec, type Layout } from './layout';
import {
  Codec,
  IDLE_TIMEOUTS,
  Op,
  REPLY_WORDS,
  TAG_PAYLOAD,
  TAG_REPLY,
  TAG_REQUEST,
  TAG_VALUES,
  type InitRequest,
  type PsMode,
  type ServerOptimizerConfig,
  type ServerStats,
} from './protocol';

/** Options of {@link PSClient.init} (`ps.init`). */
export interface PsInitOptions {
  /**
   * `sync`: every worker's gradient of step t is averaged into one update before any worker gets
   * the values for t + 1 (the baseline). `async`: each push is applied when it arrives, and a
   * pull returns whatever the server holds. `ssp`: async, but a worker whose clock (its
   * pushPulls) is more than `staleness` ahead of the slowest live worker's waits. Default sync.
   */
  mode?: PsMode;
  /** SSP's bound s; default 2 (0 behaves as sync's barrier, with per-push updates). */
  staleness?: number;
  /** Divide each push's learning rate by its observed staleness (Zhang et al. 2016); default false. */
  staleLr?: boolean;
  /**
   * The update the servers apply: `{ type: 'sgd' | 'lars', lr, momentum?, weightDecay?,
   * nesterov?, eta? }`, or an SGD/LARS instance whose settings are taken. Each push may carry
   * its own lr (a schedule); the default is this lr.
   */
  optimizer: ServerOptimizerConfig | Optimizer;
  /** How pushes travel: a compressor name or instance (fp16, qsgd, terngrad, onebit, dgc); default none. */
  compression?: string | Compressor;
  /** Keys longer than this many elements are split across every server; default 1e6 (MXNet's). */
  bigArrayBound?: number;
}

/** What a push or pushPull reports. */
export interface PushResult {
  /** Updates others applied to the shard since this worker last pulled it (max over servers). */
  staleness: number;
}

interface Server {
  index: number;
  rank: number;
  pair: PsJob['pairs'][number];
  send: Float32Array;
  recv: Float32Array;
  /** The exchange in progress: one at a time per server, as their messages share one stream. */
  lock: Promise<unknown>;
}

/** How long close() waits for the other workers to finish (a week: in effect, for ever). */
const CLOSE_WAIT_SEC = 7 * 24 * 3600;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export class PSClient {
  private layout: Layout | undefined;
  private keys: KeySpec[] = [];
  private readonly byName = new Map<string, number>();
  private servers: Server[] = [];
  private options!: { mode: PsMode; staleness: number; lr: number };
  private encoder: Encoder = null;
  private closed = false;
  private closing: Promise<ServerStats[]> | undefined;
  /** pushPulls completed: this worker's clock. */
  clock = 0;
  /** Milliseconds spent in pushPull (waiting for servers and copying). */
  waitMs = 0;

  constructor(private readonly job: PsJob) {
    if (job.role !== 'worker') throw new Error('PSClient: this rank is a server');
    this.servers = job.pairs.map((pair, s) => ({ index: s, rank: job.workers + s, pair, send: new Float32Array(0), recv: new Float32Array(0), lock: Promise.resolve() }));
  }

  get worker(): number {
    return this.job.index;
  }

  get workers(): number {
    return this.job.workers;
  }

  get serverCount(): number {
    return this.job.servers;
  }

  get mode(): PsMode | undefined {
    return this.layout ? this.options.mode : undefined;
  }

  /**
   * Registers `params` (every worker, the same names and lengths, in the same order); the
   * servers take worker 0's values and every worker's `data` is overwritten with them.
   */
  async init(params: readonly { name: string; data: Float32Array }[], options: PsInitOptions): Promise<void> {
    const fn = 'ps.init';
    this.open(fn);
    if (this.layout) throw new DtrainError(`${fn}: already called; the keys are registered once per job`, 'ERR_DTRAIN_INVALID_ARG');
    if (!Array.isArray(params) || params.length === 0) throw new TypeError(`${fn}: params must be a non-empty array of { name, data }`);
    if (options === null || typeof options !== 'object') throw new TypeError(`${fn}: options must be an object with optimizer`);
    checkOptions(options, ['mode', 'staleness', 'staleLr', 'optimizer', 'compression', 'bigArrayBound'], fn);
    const mode = options.mode ?? 'sync';
    if (mode !== 'sync' && mode !== 'async' && mode !== 'ssp') throw new RangeError(`${fn}: mode must be sync, async or ssp, got '${String(mode)}'`);
    const staleness = options.staleness ?? 2;
    if (!Number.isInteger(staleness) || staleness < 0) throw new RangeError(`${fn}: staleness must be an integer >= 0, got ${String(staleness)}`);
    if (options.staleness !== undefined && mode !== 'ssp') throw new RangeError(`${fn}: staleness applies to mode 'ssp', not '${mode}'`);
    const bound = options.bigArrayBound ?? DEFAULT_BIG_ARRAY_BOUND;
    if (!Number.isInteger(bound) || bound < 1) throw new RangeError(`${fn}: bigArrayBound must be a positive integer, got ${String(bound)}`);
    const optimizer = optimizerConfig(options.optimizer, fn);
    const compressor = makeCompressor(options.compression);
    this.encoder = encoderFor(compressor);
    const seen = new Set<string>();
    this.keys = params.map((p, i) => {
      if (p === null || typeof p !== 'object' || typeof p.name !== 'string' || p.name === '') throw new TypeError(`${fn}: params[${i}] needs a name`);
      if (!(p.data instanceof Float32Array)) throw new TypeError(`${fn}: key '${p.name}': data must be a Float32Array`);
      if (seen.has(p.name)) throw new TypeError(`${fn}: two keys are named '${p.name}'`);
      seen.add(p.name);
      return { name: p.name, length: p.data.length };
    });
    this.keys.forEach((k, i) => this.byName.set(k.name, i));
    const layout = makeLayout(this.keys, this.job.servers, bound);
    const req: InitRequest = {
      worker: this.job.index,
      workers: this.job.workers,
      signature: layoutSignature(this.keys, bound),
      keys: this.keys,
      bigArrayBound: bound,
      mode,
      staleness: mode === 'ssp' ? staleness : 0,
      staleLr: options.staleLr === true,
      optimizer,
      compression: compressorConfig(compressor),
      timeoutSec: this.servers[0].pair.settings.timeoutSec,
    };
    for (const s of this.servers) {
      s.send = new Float32Array(layout.totals[s.index]);
      s.recv = new Float32Array(layout.totals[s.index]);
    }
    const json = utf8.encode(JSON.stringify(req));
    await Promise.all(
      this.servers.map(async (s) => {
        await this.call(s, fn, async () => {
          await s.pair.send(Float64Array.of(Op.Init, -1, 0, 0, json.length, 0), 1, { tag: TAG_REQUEST });
          await s.pair.send(json, 1, { tag: TAG_PAYLOAD });
          if (this.job.index === 0) {
            for (const sl of layout.servers[s.index]) s.send.set(params[sl.key].data.subarray(sl.start, sl.start + sl.length), sl.offset);
            await s.pair.send(s.send, 1, { tag: TAG_PAYLOAD });
          }
          await this.reply(s, fn, this.longTimeout(s));
          await s.pair.recv(s.recv, 1, { tag: TAG_VALUES });
        });
      }),
    );
    this.layout = layout;
    this.options = { mode, staleness, lr: optimizer.lr };
    for (const s of this.servers) this.scatter(s, params);
  }

  /**
   * Pushes every key's gradient (`params[i].grad`, the keys of init in the same order) and pulls
   * the values the servers then hold into `params[i].data`: one request per server, all at once.
   * This is the worker's clock tick (SSP's gate, sync's barrier).
   */
  async pushPull(params: readonly Parameter[], opts: { lr?: number } = {}): Promise<PushResult> {
    const fn = 'ps.pushPull';
    const layout = this.ready(fn);
    this.checkAll(params, fn);
    const lr = this.lrOf(opts, fn);
    const t0 = performance.now();
    let staleness = 0;
    await Promise.all(
      this.servers.map((s) =>
        this.call(s, fn, async () => {
          const slices = layout.servers[s.index];
          for (const sl of slices) s.send.set(params[sl.key].grad.subarray(sl.start, sl.start + sl.length), sl.offset);
          const bucket = () => bucketOf(s.index, s.send, slices.map((sl) => this.keys[sl.key].name), slices.map((sl) => sl.offset));
          // Posted together, so the pair's engine thread runs them back to back instead of
          // waking this thread between them.
          const h = new Float64Array(REPLY_WORDS);
          await Promise.all([
            this.sendGradient(s, Op.PushPull, -1, lr, s.send, bucket),
            s.pair.recv(h, 1, { tag: TAG_REPLY, timeout: this.longTimeout(s) }),
            s.pair.recv(s.recv, 1, { tag: TAG_VALUES, timeout: this.longTimeout(s) }),
          ]);
          await this.checkReply(s, h);
          staleness = Math.max(staleness, h[2]);
        }),
      ),
    );
    for (const s of this.servers) this.scatter(s, params);
    this.clock++;
    this.waitMs += performance.now() - t0;
    return { staleness };
  }

  /** Pushes one key's gradient (async and ssp modes; applied on arrival). */
  async push(name: string, grad: Float32Array, opts: { lr?: number } = {}): Promise<PushResult> {
    const fn = 'ps.push';
    const layout = this.ready(fn);
    const key = this.keyOf(name, grad, fn, 'grad');
    const lr = this.lrOf(opts, fn);
    let staleness = 0;
    await Promise.all(
      layout.byKey[key].map(async ({ server, slice }) => {
        const s = this.servers[server];
        const index = layout.servers[server].indexOf(slice);
        await this.call(s, fn, async () => {
          const part = grad.subarray(slice.start, slice.start + slice.length);
          const bucketIndex = this.job.servers * (1 + key) + server;
          const h = new Float64Array(REPLY_WORDS);
          await Promise.all([
            this.sendGradient(s, Op.Push, index, lr, part, () => bucketOf(bucketIndex, part, [name], [0])),
            s.pair.recv(h, 1, { tag: TAG_REPLY, timeout: this.longTimeout(s) }),
          ]);
          await this.checkReply(s, h);
          staleness = Math.max(staleness, h[2]);
        });
      }),
    );
    return { staleness };
  }

  /** Pulls one key's values into `out` (default a new array); resolves to it. */
  async pull(name: string, out?: Float32Array): Promise<Float32Array> {
    const fn = 'ps.pull';
    const layout = this.ready(fn);
    const key = this.byName.get(name);
    if (key === undefined) throw this.unknownKey(name, fn);
    const dst = out ?? new Float32Array(this.keys[key].length);
    this.keyOf(name, dst, fn, 'out');
    await Promise.all(
      layout.byKey[key].map(async ({ server, slice }) => {
        const s = this.servers[server];
        const index = layout.servers[server].indexOf(slice);
        await this.call(s, fn, async () => {
          const h = new Float64Array(REPLY_WORDS);
          await Promise.all([
            s.pair.send(Float64Array.of(Op.Pull, index, this.clock, 0, 0, 0), 1, { tag: TAG_REQUEST }),
            s.pair.recv(h, 1, { tag: TAG_REPLY, timeout: this.longTimeout(s) }),
            s.pair.recv(dst.subarray(slice.start, slice.start + slice.length), 1, { tag: TAG_VALUES }),
          ]);
          await this.checkReply(s, h);
        });
      }),
    );
    return dst;
  }

  /** Every server's statistics, in server order. */
  async stats(): Promise<ServerStats[]> {
    const fn = 'ps.stats';
    this.ready(fn);
    return Promise.all(
      this.servers.map((s) =>
        this.call(s, fn, async () => {
          await s.pair.send(Float64Array.of(Op.Stats, -1, this.clock, 0, 0, 0), 1, { tag: TAG_REQUEST });
          const h = new Float64Array(REPLY_WORDS);
          await s.pair.recv(h, 1, { tag: TAG_REPLY });
          const bytes = new Uint8Array(h[3]);
          await s.pair.recv(bytes, 1, { tag: TAG_VALUES });
          return JSON.parse(fromUtf8.decode(bytes)) as ServerStats;
        }),
      ),
    );
  }

  /**
   * Tells the servers this worker is finished and waits until every worker is (so none waits
   * alone in the job's closing barrier); resolves to every server's final statistics. With
   * `params` (those of init, in its order), their `data` receives the final values. Later calls
   * of push and pull are ERR_DTRAIN_CLOSED.
   */
  close(params?: readonly { name: string; data: Float32Array }[]): Promise<ServerStats[]> {
    if (params !== undefined && this.layout) this.checkAll(params as Parameter[], 'ps.close', false);
    this.closing ??= (async () => {
      this.closed = true;
      const stats = await Promise.all(
        this.servers.map((s) =>
          this.call(s, 'ps.close', async () => {
            await s.pair.send(Float64Array.of(Op.Done, params && this.layout ? 1 : 0, this.clock, 0, 0, 0), 1, { tag: TAG_REQUEST });
            // Waits for the slowest worker to finish its training, however long that is: a
            // server or link lost meanwhile is still reported at once.
            const h = await this.reply(s, 'ps.close', CLOSE_WAIT_SEC);
            if (params && this.layout) await s.pair.recv(s.recv, 1, { tag: TAG_VALUES });
            const bytes = new Uint8Array(h[3]);
            await s.pair.recv(bytes, 1, { tag: TAG_VALUES });
            return JSON.parse(fromUtf8.decode(bytes)) as ServerStats;
          }),
        ),
      );
      if (params && this.layout) for (const s of this.servers) this.scatter(s, params);
      return stats;
    })();
    return this.closing;
  }

  // ---- helpers -------------------------------------------------------------------------------

  private open(fn: string): void {
    if (this.closed) throw new DtrainError(`${fn}: the parameter servers have shut down for this worker (ps.close() or shutdown() was called)`, 'ERR_DTRAIN_CLOSED');
  }

  private ready(fn: string): Layout {
    this.open(fn);
    if (!this.layout) throw new DtrainError(`${fn}: call 'await ps.init(params, options)' first`, 'ERR_DTRAIN_NOT_INITIALIZED');
    return this.layout;
  }

  // A gated reply (sync's barrier, SSP's bound) may wait for the slowest worker; the server drops
  // a silent worker after IDLE_TIMEOUTS timeouts, so waiting twice that long cannot fire first.
  private longTimeout(s: Server): number {
    return s.pair.settings.timeoutSec * IDLE_TIMEOUTS * 2;
  }

  private unknownKey(name: string, fn: string): RangeError {
    const names = this.keys.map((k) => `'${k.name}'`);
    return Object.assign(
      new RangeError(`${fn}: no key '${String(name)}' was registered (ps.init registered ${names.length}: ${names.slice(0, 8).join(', ')}${names.length > 8 ? ', ...' : ''})`),
      { code: 'ERR_DTRAIN_INVALID_ARG' },
    );
  }

  private keyOf(name: string, arr: unknown, fn: string, what: string): number {
    const key = this.byName.get(name);
    if (key === undefined) throw this.unknownKey(name, fn);
    const spec = this.keys[key];
    if (!(arr instanceof Float32Array)) {
      const got = arr === null || typeof arr !== 'object' ? typeof arr : (arr as object).constructor.name;
      throw new TypeError(`${fn}('${name}'): ${what} must be a Float32Array of ${spec.length} elements, got ${got}`);
    }
    if (arr.length !== spec.length) throw new RangeError(`${fn}('${name}'): ${what} has ${arr.length} elements; key '${name}' has ${spec.length}`);
    return key;
  }

  private checkAll(params: readonly Parameter[], fn: string, grads = true): void {
    if (!Array.isArray(params) || params.length !== this.keys.length) {
      throw new TypeError(`${fn}: params must be the ${this.keys.length} parameters of ps.init, in its order`);
    }
    params.forEach((p, i) => {
      if (p?.name !== this.keys[i].name) throw new RangeError(`${fn}: params[${i}] is '${String(p?.name)}'; ps.init registered '${this.keys[i].name}' there`);
      if (grads) this.keyOf(p.name, p.grad, fn, 'grad');
      this.keyOf(p.name, p.data, fn, 'data');
    });
  }

  private lrOf(opts: { lr?: number }, fn: string): number {
    if (opts === null || typeof opts !== 'object') throw new TypeError(`${fn}: options must be an object`);
    checkOptions(opts, ['lr'], fn);
    const lr = opts.lr ?? this.options.lr;
    if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) throw new RangeError(`${fn}: lr must be a finite number >= 0, got ${String(lr)}`);
    return lr;
  }

  private async sendGradient(s: Server, op: Op, index: number, lr: number, data: Float32Array, bucket: () => ReturnType<typeof bucketOf>): Promise<void> {
    const words = this.encoder ? this.encoder(bucket(), this.job.index) : null;
    const header = Float64Array.of(op, index, this.clock, lr, words ? words.length : data.length, words ? Codec.Words : Codec.Float32);
    await Promise.all([s.pair.send(header, 1, { tag: TAG_REQUEST }), s.pair.send(words ?? data, 1, { tag: TAG_PAYLOAD })]);
  }

  /** After a reply header that came with its values: a server's error becomes this worker's. */
  private async checkReply(s: Server, h: Float64Array): Promise<void> {
    if (h[0] === 0) return;
    const bytes = new Uint8Array(h[3]);
    await s.pair.recv(bytes, 1, { tag: TAG_VALUES });
    throw new DtrainError(fromUtf8.decode(bytes), 'ERR_DTRAIN_MISMATCH');
  }

  /** The reply header; a server's error becomes this worker's. */
  private async reply(s: Server, fn: string, timeout: number): Promise<Float64Array> {
    const h = new Float64Array(REPLY_WORDS);
    await s.pair.recv(h, 1, { tag: TAG_REPLY, timeout });
    if (h[0] !== 0) {
      const bytes = new Uint8Array(h[3]);
      await s.pair.recv(bytes, 1, { tag: TAG_VALUES });
      throw new DtrainError(fromUtf8.decode(bytes), 'ERR_DTRAIN_MISMATCH');
    }
    return h;
  }

  /** Runs one exchange with a server; a failure of the link names the server. */
  private call<R>(s: Server, fn: string, body: () => Promise<R>): Promise<R> {
    const run = s.lock.then(() => this.exchange(s, fn, body));
    s.lock = run.catch(() => {});
    return run;
  }

  private async exchange<R>(s: Server, fn: string, body: () => Promise<R>): Promise<R> {
    try {
      return await body();
    } catch (err) {
      const e = err as DtrainError;
      if (e instanceof DtrainError && (e.code === 'ERR_DTRAIN_PEER_LOST' || e.code === 'ERR_DTRAIN_TIMEOUT' || e.code === 'ERR_DTRAIN_BROKEN')) {
        // The pair's own message numbers ranks within the pair; say it in job terms.
        const what =
          e.code === 'ERR_DTRAIN_PEER_LOST'
            ? 'was lost (its process died or disconnected); its shard of the parameters is gone, so the job stops'
            : e.code === 'ERR_DTRAIN_TIMEOUT'
              ? `did not answer in time: ${e.message}`
              : `failed: ${e.message}`;
        throw new DtrainError(`${fn}: parameter server ${s.index} (rank ${s.rank}) ${what}`, e.code, [s.rank]);
      }
      throw err;
    }
  }

  private scatter(s: Server, params: readonly { data: Float32Array }[]): void {
    for (const sl of (this.layout as Layout).servers[s.index]) {
      params[sl.key].data.set(s.recv.subarray(sl.offset, sl.offset + sl.length), sl.start);
    }
  }
}

function optimizerConfig(o: ServerOptimizerConfig | Optimizer, fn: string): ServerOptimizerConfig {
  if (o === null || typeof o !== 'object') throw new TypeError(`${fn}: optimizer must be { type: 'sgd' | 'lars', lr, ... } or an SGD/LARS instance`);
  if (typeof (o as Optimizer).stateDict === 'function') {
    const sd = (o as Optimizer).stateDict();
    const h = sd.hyper as Record<string, number | boolean>;
    const type = sd.type === 'SGD' ? 'sgd' : sd.type === 'LARS' ? 'lars' : undefined;
    if (!type) throw new TypeError(`${fn}: the servers apply SGD or LARS; got a ${sd.type} optimizer`);
    return { type, lr: h.lr as number, momentum: h.momentum as number, weightDecay: h.weightDecay as number, nesterov: h.nesterov as boolean | undefined, eta: h.eta as number | undefined };
  }
  const c = o as ServerOptimizerConfig;
  checkOptions(c, ['type', 'lr', 'momentum', 'weightDecay', 'nesterov', 'eta'], `${fn}: optimizer`);
  if (c.type !== 'sgd' && c.type !== 'lars') throw new RangeError(`${fn}: optimizer.type must be 'sgd' or 'lars', got '${String(c.type)}'`);
  if (typeof c.lr !== 'number' || !Number.isFinite(c.lr) || c.lr < 0) throw new RangeError(`${fn}: optimizer.lr must be a finite number >= 0, got ${String(c.lr)}`);
  return { ...c };
}

