/**
 * One parameter server: holds its slices of every key (see layout.ts), applies the workers'
 * gradients with a server-side optimizer, and answers pulls, under one of three consistency
 * models. Each worker is served by its own loop over their pair communicator; all loops run on
 * this process's one JS thread, so an update to the shard is applied whole before any other
 * request is looked at (atomic per shard, in arrival order).
 */
import type { Communicator } from '../comm/communicator';
import { DtrainError } from '../common/errors';
import type { Parameter } from '../common/parameter';
import { LARS } from '../optim/lars';
import type { Optimizer } from '../optim/optimizer';
import { SGD } from '../optim/sgd';
import { loadBinding } from '../native';
import { nativeIds } from '../common/constants';
import { bucketOf, decoderFor, type Decoder } from './codec';
import type { PsJob } from './job';
import { makeLayout, type Layout, type Slice } from './layout';
import {
  Codec,
  IDLE_TIMEOUTS,
  Op,
  REPLY_WORDS,
  REQUEST_WORDS,
  TAG_PAYLOAD,
  TAG_REPLY,
  TAG_REQUEST,
  TAG_VALUES,
  type InitRequest,
  type ServerOptimizerConfig,
  type ServerStats,
} from './protocol';

interface Peer {
  index: number;
  pair: Communicator;
  alive: boolean;
  done: boolean;
  /** pushPulls applied: the worker's clock. */
  clock: number;
  /** Per slice, the version the worker last received. */
  seen: Float64Array;
  header: Float64Array;
  /** The worker's gradient as received (float32). */
  grad: Float32Array;
  /** Compressed messages land here (grown as needed). */
  words: Int32Array;
  /** What the worker is sent (a snapshot, so later updates cannot tear a reply in flight). */
  out: Float32Array;
  request?: InitRequest;
}

interface Waiter {
  ready: () => boolean;
  resolve: () => void;
}

/** A request the server refuses after reading all of it, so the pair stays in step. */
class RequestError extends Error {}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export class ParameterServer {
  readonly index: number;
  readonly rank: number;
  private readonly peers: Peer[];
  private layout!: Layout;
  private slices: Slice[] = [];
  private config!: InitRequest;
  private values: Float32Array = new Float32Array(0);
  private grads: Float32Array = new Float32Array(0);
  private versions = new Float64Array(0);
  private optimizers: Optimizer[] = [];
  private decoder: Decoder | null = null;
  private readonly waiters: Waiter[] = [];
  private readonly kernels = loadBinding().kernels;
  private initFailure: string | null = null;
  private initialised = false;
  // Sync mode: the round being gathered and who has pushed into it.
  private round = 0;
  private readonly arrived = new Set<number>();
  private roundLr = 0;
  private readonly stats = { updates: 0, skipped: 0, pushes: 0, pulls: 0, stale: 0, staleMax: 0, lead: 0, busyMs: 0, first: 0, last: 0 };
  private readonly dropped: { worker: number; why: string }[] = [];

  constructor(
    private readonly job: PsJob,
    private readonly log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
  ) {
    if (job.role !== 'server') throw new Error('ParameterServer: this rank is a worker');
    this.index = job.index;
    this.rank = job.full.rank;
    this.peers = job.pairs.map((pair, index) => ({
      index,
      pair,
      alive: true,
      done: false,
      clock: 0,
      seen: new Float64Array(0),
      header: new Float64Array(REQUEST_WORDS),
      grad: new Float32Array(0),
      words: new Int32Array(0),
      out: new Float32Array(0),
    }));
  }

  private get name(): string {
    return `parameter server ${this.index} (rank ${this.rank})`;
  }

  /** Serves until every worker is done or gone; resolves to the statistics. */
  async run(): Promise<ServerStats> {
    await Promise.all(this.peers.map((p) => this.serve(p)));
    return this.snapshot();
  }

  // The workers' timeout once they have said it (their init() options may set it).
  private idleTimeout(p: Peer): number {
    return (this.config?.timeoutSec ?? p.pair.settings.timeoutSec) * IDLE_TIMEOUTS;
  }

  private async serve(p: Peer): Promise<void> {
    try {
      if (!(await this.handleInit(p))) {
        // Registration failed (the worker was told why): only its Done, from shutdown(), remains.
        while (!p.done) {
          await p.pair.recv(p.header, 0, { tag: TAG_REQUEST, timeout: this.idleTimeout(p) });
          if (p.header[0] === Op.Done) await this.handle(p);
          else await this.replyError(p, `${this.name}: ps.init failed for worker ${p.index}; nothing but shutdown() can follow`);
        }
        return;
      }
      for (;;) {
        await p.pair.recv(p.header, 0, { tag: TAG_REQUEST, timeout: this.idleTimeout(p) });
        if (this.stats.first === 0) this.stats.first = performance.now();
        const finished = await this.handle(p);
        this.stats.last = performance.now();
        if (finished) return;
      }
    } catch (err) {
      this.drop(p, err as Error);
    }
  }

  // ---- registration ------------------------------------------------------------------------

  private async handleInit(p: Peer): Promise<boolean> {
    await p.pair.recv(p.header, 0, { tag: TAG_REQUEST, timeout: this.idleTimeout(p) });
    // A worker that leaves without registering (its script never used dtrain.ps).
    if (p.header[0] === Op.Done) {
      await this.handle(p);
      return false;
    }
    if (p.header[0] !== Op.Init) throw new DtrainError(`${this.name}: worker ${p.index} sent request ${p.header[0]} before ps.init()`, 'ERR_DTRAIN_MISMATCH', [p.index]);
    const json = new Uint8Array(p.header[4]);
    await p.pair.recv(json, 0, { tag: TAG_PAYLOAD });
    const req = JSON.parse(fromUtf8.decode(json)) as InitRequest;
    p.request = req;
    if (p.index === 0) {
      const layout = makeLayout(req.keys, this.job.servers, req.bigArrayBound);
      const total = layout.totals[this.index];
      const values = new Float32Array(total);
      await p.pair.recv(values, 0, { tag: TAG_PAYLOAD });
      this.setup(req, layout, values);
    }
    this.recheck();
    const gone = (q: Peer) => !q.alive || q.done;
    await this.until(() => this.peers.every((q) => gone(q) || q.request !== undefined) && (this.initialised || gone(this.peers[0])));
    const failure = this.initFailure ?? this.checkInit(p);
    if (failure !== null) {
      await this.replyError(p, failure);
      return false;
    }
    p.seen = new Float64Array(this.slices.length);
    p.grad = new Float32Array(this.values.length);
    p.out = new Float32Array(this.values.length);
    // Every worker starts from worker 0's values.
    p.out.set(this.values);
    await this.replyOk(p, 0, 0);
    await p.pair.send(p.out, 0, { tag: TAG_VALUES });
    return true;
  }

  private setup(req: InitRequest, layout: Layout, values: Float32Array): void {
    this.config = req;
    this.layout = layout;
    this.slices = layout.servers[this.index];
    this.values = values;
    this.grads = new Float32Array(values.length);
    this.versions = new Float64Array(this.slices.length);
    try {
      this.decoder = decoderFor(req.compression);
      this.optimizers = this.slices.map((s) => {
        const key = req.keys[s.key];
        const param: Parameter = {
          name: s.length === key.length ? key.name : `${key.name}[${s.start}:${s.start + s.length}]`,
          data: values.subarray(s.offset, s.offset + s.length),
          grad: this.grads.subarray(s.offset, s.offset + s.length),
        };
        return makeOptimizer(param, req.optimizer);
      });
    } catch (err) {
      this.initFailure = `${this.name}: ${(err as Error).message}`;
    }
    this.initialised = true;
  }

  // Every worker must describe the same job as worker 0.
  private checkInit(p: Peer): string | null {
    if (!this.initialised) return `${this.name}: worker 0, which sends the initial values, ${this.peers[0].alive ? 'left without calling ps.init()' : 'was lost before ps.init() completed'}`;
    const a = this.config;
    for (const q of this.peers) {
      const b = q.request;
      if (!b || q === this.peers[0]) continue;
      for (const field of ['signature', 'mode', 'staleness', 'staleLr', 'compression', 'optimizer', 'timeoutSec'] as const) {
        if (JSON.stringify(a[field]) !== JSON.stringify(b[field])) {
          const what = field === 'signature' ? describeKeyDifference(a, b) : `${field} ${JSON.stringify(b[field])} (worker 0: ${JSON.stringify(a[field])})`;
          return `ps.init: worker ${q.index} registered ${what}; every worker must call ps.init with the same parameters and options`;
        }
      }
    }
    return p.request ? null : `${this.name}: no ps.init from worker ${p.index}`;
  }

  // ---- requests ------------------------------------------------------------------------------

  /** One request; true when the worker is finished. */
  private async handle(p: Peer): Promise<boolean> {
    const h = p.header;
    const op = h[0];
    switch (op) {
      case Op.PushPull:
        await this.pushPull(p);
        return false;
      case Op.Push:
      case Op.Pull:
        await this.single(p, op);
        return false;
      case Op.Stats: {
        const bytes = utf8.encode(JSON.stringify(this.snapshot()));
        await p.pair.send(Float64Array.of(0, 0, 0, bytes.length, 0), 0, { tag: TAG_REPLY });
        await p.pair.send(bytes, 0, { tag: TAG_VALUES });
        return false;
      }
      case Op.Done:
        p.done = true;
        if (this.config?.mode === 'sync') this.completeRound();
        this.recheck();
        // Every worker leaves together, so none waits in the closing barrier for a slow one.
        await this.until(() => this.peers.every((q) => !q.alive || q.done));
        {
          // The reply carries the final statistics, and the final values when asked (h[1] = 1).
          const bytes = utf8.encode(JSON.stringify(this.snapshot()));
          await p.pair.send(Float64Array.of(0, this.versions[0] ?? 0, 0, bytes.length, 0), 0, { tag: TAG_REPLY });
          if (h[1] === 1) {
            p.out.set(this.values);
            await p.pair.send(p.out, 0, { tag: TAG_VALUES });
          }
          await p.pair.send(bytes, 0, { tag: TAG_VALUES });
        }
        return true;
      default:
        throw new DtrainError(`${this.name}: worker ${p.index} sent unknown request ${op}`, 'ERR_DTRAIN_MISMATCH', [p.index]);
    }
  }

  /** Receives a gradient of `n` elements (as the header says it travels) into `into`. */
  private async receiveGradient(p: Peer, into: Float32Array, bucket: () => ReturnType<typeof bucketOf>): Promise<boolean> {
    const codec = p.header[5];
    const n = p.header[4];
    if (codec === Codec.Float32) {
      if (n !== into.length) {
        await p.pair.recv(new Float32Array(n), 0, { tag: TAG_PAYLOAD });
        throw new RequestError(`${this.name}: worker ${p.index} pushed ${n} elements where ${into.length} are held`);
      }
      await p.pair.recv(into, 0, { tag: TAG_PAYLOAD });
      return true;
    }
    if (p.words.length < n) p.words = new Int32Array(n);
    const words = p.words.subarray(0, n);
    await p.pair.recv(words, 0, { tag: TAG_PAYLOAD });
    if (!this.decoder) throw new RequestError(`${this.name}: worker ${p.index} pushed a compressed gradient, but ps.init set no compression`);
    return this.decoder(bucket(), words);
  }

  private fusedBucket(p: Peer) {
    return bucketOf(
      0,
      p.grad,
      this.slices.map((s) => this.config.keys[s.key].name),
      this.slices.map((s) => s.offset),
    );
  }

  private staleness(p: Peer, from: number, to: number): number {
    let s = 0;
    for (let i = from; i < to; i++) s = Math.max(s, this.versions[i] - p.seen[i]);
    return s;
  }

  private async pushPull(p: Peer): Promise<void> {
    const lr = p.header[3];
    let finite: boolean;
    try {
      finite = await this.receiveGradient(p, p.grad, () => this.fusedBucket(p));
    } catch (err) {
      if (err instanceof RequestError) return this.replyError(p, err.message, this.values.length);
      throw err;
    }
    this.stats.pushes++;
    const t0 = performance.now();
    let staleness = 0;
    if (this.config.mode === 'sync') {
      // Summed into the round; applied once, as the mean, when every live worker has pushed.
      if (this.arrived.size === 0) this.grads.fill(0);
      if (finite) this.addInto(this.grads, p.grad);
      else this.grads.fill(NaN);
      this.arrived.add(p.index);
      this.roundLr = lr;
      const round = this.round;
      this.stats.busyMs += performance.now() - t0;
      this.completeRound();
      await this.until(() => this.round > round || !p.alive);
    } else {
      staleness = this.staleness(p, 0, this.slices.length);
      this.noteStaleness(staleness);
      if (finite) {
        this.grads.set(p.grad);
        this.applyAll(this.config.staleLr && staleness > 1 ? lr / staleness : lr, 1);
      } else {
        this.stats.skipped++;
      }
      p.clock++;
      this.stats.busyMs += performance.now() - t0;
      this.recheck();
      if (this.config.mode === 'ssp') {
        const bound = this.config.staleness;
        await this.until(() => p.clock - this.minClock() <= bound);
      }
    }
    this.stats.lead = Math.max(this.stats.lead, p.clock - this.minClock());
    const t1 = performance.now();
    p.out.set(this.values);
    p.seen.set(this.versions);
    this.stats.pulls++;
    this.stats.busyMs += performance.now() - t1;
    await this.replyWith(p, p.out, this.versions.length > 0 ? this.versions[0] : 0, staleness);
  }

  /** A status header and the values, posted together (one wake-up of this thread, not two). */
  private async replyWith(p: Peer, values: Float32Array, version: number, staleness: number): Promise<void> {
    await Promise.all([
      p.pair.send(Float64Array.of(0, version, staleness, 0, 0), 0, { tag: TAG_REPLY }),
      p.pair.send(values, 0, { tag: TAG_VALUES }),
    ]);
  }

  private completeRound(): void {
    const live = this.peers.filter((q) => q.alive && !q.done);
    if (this.arrived.size === 0 || !live.every((q) => this.arrived.has(q.index))) return;
    const t0 = performance.now();
    this.applyAll(this.roundLr, 1 / this.arrived.size);
    for (const i of this.arrived) this.peers[i].clock++;
    this.arrived.clear();
    this.round++;
    this.stats.busyMs += performance.now() - t0;
    this.recheck();
  }

  // An update skipped for inf or NaN (the optimizers check) changes no version.
  private applyAll(lr: number, gradScale: number): void {
    let applied = false;
    this.optimizers.forEach((opt, i) => {
      opt.lr = lr;
      if (opt.step(gradScale === 1 ? undefined : { gradScale })) {
        this.versions[i]++;
        applied = true;
      }
    });
    if (applied) this.stats.updates++;
    else this.stats.skipped++;
  }

  private addInto(dst: Float32Array, src: Float32Array): void {
    const ids = nativeIds();
    this.kernels.reduce(ids.dtype.float32, ids.reduceOp.sum, dst, src);
  }

  private noteStaleness(s: number): void {
    this.stats.stale += s;
    this.stats.staleMax = Math.max(this.stats.staleMax, s);
  }

  private async single(p: Peer, op: Op): Promise<void> {
    const i = p.header[1];
    const slice = this.slices[i];
    if (!Number.isInteger(i) || slice === undefined) {
      // Keep the stream in step: a push's payload follows its header.
      if (op === Op.Push) await this.receiveGradient(p, new Float32Array(p.header[4]), () => bucketOf(0, new Float32Array(p.header[4]), [''], [0]));
      return this.replyError(p, `${this.name}: worker ${p.index} asked for slice ${i}; this server holds ${this.slices.length}`);
    }
    const view = (a: Float32Array) => a.subarray(slice.offset, slice.offset + slice.length);
    if (op === Op.Push) {
      const name = this.config.keys[slice.key].name;
      let finite: boolean;
      try {
        finite = await this.receiveGradient(p, view(p.grad), () => bucketOf(0, view(p.grad), [name], [0]));
      } catch (err) {
        if (err instanceof RequestError) return this.replyError(p, err.message);
        throw err;
      }
      this.stats.pushes++;
      if (this.config.mode === 'sync') {
        return this.replyError(p, `ps.push('${name}'): the sync mode applies a step once every worker has pushed every key; use ps.pushPull`);
      }
      const t0 = performance.now();
      const staleness = this.staleness(p, i, i + 1);
      this.noteStaleness(staleness);
      const opt = this.optimizers[i];
      const lr = p.header[3];
      opt.lr = this.config.staleLr && staleness > 1 ? lr / staleness : lr;
      if (finite) view(this.grads).set(view(p.grad));
      if (finite && opt.step()) {
        this.versions[i]++;
        this.stats.updates++;
      } else {
        this.stats.skipped++;
      }
      this.stats.busyMs += performance.now() - t0;
      return this.replyOk(p, this.versions[i], staleness);
    }
    view(p.out).set(view(this.values));
    p.seen[i] = this.versions[i];
    this.stats.pulls++;
    await this.replyWith(p, view(p.out), this.versions[i], 0);
  }

  // ---- replies, waiting, dropping ---------------------------------------------------------

  private async replyOk(p: Peer, version: number, staleness: number): Promise<void> {
    await p.pair.send(Float64Array.of(0, version, staleness, 0, 0), 0, { tag: TAG_REPLY });
  }

  /**
   * An error reply. A worker that posted its receive of `valuesLength` values with the header
   * (pushPull) gets that many zeros first, so the pair stays in step; then the message.
   */
  private async replyError(p: Peer, message: string, valuesLength = -1): Promise<void> {
    const bytes = utf8.encode(message);
    await p.pair.send(Float64Array.of(1, 0, 0, bytes.length, 0), 0, { tag: TAG_REPLY });
    if (valuesLength >= 0) await p.pair.send(new Float32Array(valuesLength), 0, { tag: TAG_VALUES });
    await p.pair.send(bytes, 0, { tag: TAG_VALUES });
  }

  /** The slowest clock among workers still training (Infinity when none is). */
  private minClock(): number {
    let m = Infinity;
    for (const q of this.peers) if (q.alive && !q.done) m = Math.min(m, q.clock);
    return m;
  }

  private until(ready: () => boolean): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ ready, resolve }));
  }

  /** Wakes every wait whose condition now holds (after a clock, round, done or drop). */
  private recheck(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i];
      if (w.ready()) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  private drop(p: Peer, err: Error): void {
    if (!p.alive) return;
    p.alive = false;
    const code = (err as { code?: string }).code;
    // The pair communicator's own message numbers ranks within the pair; say it in job terms.
    const why =
      code === 'ERR_DTRAIN_PEER_LOST'
        ? `its process died or disconnected (rank ${p.index})`
        : code === 'ERR_DTRAIN_TIMEOUT'
          ? `it sent nothing for ${this.idleTimeout(p)} s (rank ${p.index}; ${IDLE_TIMEOUTS} times the collective timeout)`
          : `${err.message} (rank ${p.index})`;
    this.dropped.push({ worker: p.index, why });
    const left = this.peers.filter((q) => q.alive && !q.done).length;
    if (!p.done) this.log(`dtrain ps: ${this.name} dropped worker ${p.index}: ${why}; ${left} other worker(s) still training`);
    // A share of the open sync round that arrived whole stays (it is a complete gradient); the
    // round no longer waits for this worker.
    if (this.config?.mode === 'sync') this.completeRound();
    this.recheck();
  }

  private snapshot(): ServerStats {
    const s = this.stats;
    return {
      server: this.index,
      rank: this.rank,
      mode: this.config?.mode ?? 'async',
      staleness: this.config?.staleness ?? 0,
      updates: s.updates,
      pushes: s.pushes,
      pulls: s.pulls,
      skipped: s.skipped,
      mean_staleness: s.pushes > 0 ? s.stale / s.pushes : 0,
      max_staleness: s.staleMax,
      max_lead: s.lead,
      busy_s: s.busyMs / 1000,
      active_s: s.first > 0 ? (s.last - s.first) / 1000 : 0,
      dropped: this.dropped.slice(),
      clocks: this.peers.map((q) => q.clock),
    };
  }
}

function makeOptimizer(param: Parameter, c: ServerOptimizerConfig): Optimizer {
  if (c === null || typeof c !== 'object') throw new TypeError('ps.init: optimizer must be { type: "sgd" | "lars", lr, ... }');
  if (c.type === 'sgd') return new SGD([param], { lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay, nesterov: c.nesterov });
  if (c.type === 'lars') return new LARS([param], { lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay, eta: c.eta, exclude: () => false });
  throw new RangeError(`ps.init: optimizer.type must be 'sgd' or 'lars', got '${String((c as { type?: unknown }).type)}'`);
}

function describeKeyDifference(a: InitRequest, b: InitRequest): string {
  const n = Math.max(a.keys.length, b.keys.length);
  for (let i = 0; i < n; i++) {
    const x = a.keys[i];
    const y = b.keys[i];
    if (!x) return `an extra key '${y.name}' (worker 0 registered ${a.keys.length})`;
    if (!y) return `no key '${x.name}' (it registered ${b.keys.length}, worker 0 ${a.keys.length})`;
    if (x.name !== y.name) return `key ${i} as '${y.name}' (worker 0: '${x.name}')`;
    if (x.length !== y.length) return `key '${y.name}' with ${y.length} elements (worker 0: ${x.length})`;
  }
  return `big-array bound ${b.bigArrayBound} (worker 0: ${a.bigArrayBound})`;
}
