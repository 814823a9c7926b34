/**
 * A communicator: the ranks of a job (or of a group of them) and the collectives among them.
 * Checks every argument in JS (a TypeError or RangeError naming it, before anything is sent) and
 * hands the native engine one request per call; the engine runs a communicator's collectives on
 * its own thread in call order, and every rank exchanges a descriptor of each call first, so
 * ranks that disagree fail with ERR_DTRAIN_MISMATCH instead of hanging.
 */
import { traceCommunicator, untraceCommunicator } from './timeline';
import { isOneOf, nativeIds, REDUCE_OP_NAMES, type OpKind } from '../common/constants';
import { checkOptions, integer } from '../common/args';
import { DtrainError } from '../common/errors';
import { loadBinding, type CollectiveRequest, type NativeCommunicator, type NativeCommConfig } from '../native';
import { checkArray, dtypeOf, narrowAverage, sameKind, widenForAverage } from './arrays';
import { checkSeconds } from './config';
import { fromBytes, toBytes } from './objects';
import { alloc as deviceAlloc, DeviceBuffer, prepareKernelsForCollectives, Stream } from '../cuda';

/** The value's bytes, or the TypeError that says why it has none. */
function encodeOrError(value: unknown, fn: string): Uint8Array | TypeError {
  try {
    return toBytes(value, fn);
  } catch (err) {
    return err as TypeError;
  }
}
import type {
  AllgatherOptions,
  AllreduceOptions,
  AlltoallOptions,
  BroadcastOptions,
  CallOptions,
  CommArray,
  GatherOptions,
  NewGroupOptions,
  PointToPointOptions,
  ReduceOptions,
  ReduceScatterOptions,
  ScatterOptions,
} from './types';

/** The options each collective takes; anything else is a typo worth an error. */
const KNOWN_OPTIONS = {
  allreduce: ['op', 'algorithm', 'dtype', 'timeout'],
  reduceScatter: ['op', 'algorithm', 'dtype', 'timeout'],
  allgather: ['algorithm', 'dtype', 'timeout'],
  broadcast: ['dtype', 'timeout'],
  barrier: ['timeout'],
  reduce: ['op', 'algorithm', 'dtype', 'timeout'],
  gather: ['algorithm', 'dtype', 'timeout'],
  scatter: ['send', 'algorithm', 'dtype', 'timeout'],
  alltoall: ['sendCounts', 'recvCounts', 'algorithm', 'dtype', 'timeout'],
  send: ['tag', 'dtype', 'timeout'],
  recv: ['tag', 'dtype', 'timeout'],
  join: ['timeout'],
} as const satisfies Record<OpKind, readonly string[]>;

/** What collectives on device buffers take besides their usual options. */
export interface DeviceOptions {
  /** The call waits for the work this stream had queued when it was made (default: the default stream's). */
  stream?: Stream;
}

/** The options any collective may take, read by {@link Communicator}'s request builder. */
type AnyOptions = AllreduceOptions & AllgatherOptions & BroadcastOptions & CallOptions & PointToPointOptions;

/** Collectives that only copy bits: a Uint16Array defaults to float16 there. */
const COPIES: ReadonlySet<OpKind> = new Set(['broadcast', 'allgather', 'gather', 'scatter', 'alltoall', 'send', 'recv']);
const REDUCES: ReadonlySet<OpKind> = new Set(['allreduce', 'reduceScatter', 'reduce']);
const ROOTED: ReadonlySet<OpKind> = new Set(['broadcast', 'reduce', 'gather', 'scatter']);

/**
 * A group of ranks that run collectives together: the world from {@link init}, or a subset from
 * {@link Communicator.newGroup}. Every method of the module-level API (`dtrain.allreduce`, ...)
 * is a method here, with the same signature.
 *
 * Facts that never change for a communicator (`rank`, `size`, ...) are read-only properties
 * here; the module exposes them as functions (`dtrain.rank()`), as Horovod does, because the
 * module's communicator changes with init() and shutdown().
 */
export class Communicator {
  private readonly native: NativeCommunicator;
  private readonly defaultAlgorithm: number;
  private readonly config: NativeCommConfig;
  private readonly defaultAlgorithmName: string;
  private readonly groups: Communicator[] = [];
  private groupCount = 0;
  private closing: Promise<void> | undefined;

  private constructor(native: NativeCommunicator, config: NativeCommConfig, defaultAlgorithm: string) {
    this.native = native;
    this.config = config;
    this.defaultAlgorithmName = defaultAlgorithm;
    this.defaultAlgorithm = loadBinding().algorithmId(defaultAlgorithm);
  }

  /**
   * Connects to every peer; resolves once the transport is up. When the transport was `auto`,
   * rank 0 logs which one it chose and why.
   */
  static async create(config: NativeCommConfig, defaultAlgorithm = 'auto'): Promise<Communicator> {
    const binding = loadBinding();
    const full: NativeCommConfig = { ...config, prefix: config.prefix || `c${config.generation}/` };
    if (!full.logName) full.logName = `rank ${full.rank}`;
    if (full.timelineFile) full.timeline = 1;
    const native = new binding.Communicator(full);
    const comm = new Communicator(native, full, defaultAlgorithm);
    await native.ready();
    if (full.timelineFile) {
      traceCommunicator(full.timelineFile, full.jobRank ?? full.rank, full.timelineMaxBytes ?? 256 * 2 ** 20, native, full.prefix, full.timelineMerged === true);
    }
    if (full.transport === 'auto' && native.rank === 0 && native.size > 1) {
      process.stderr.write(`dtrain: transport auto chose ${native.transport}: ${native.transportReason}\n`);
    }
    return comm;
  }

  /** This worker's rank, 0..size-1 (in a group: its place among the group's ranks). */
  get rank(): number {
    return this.native.rank;
  }
  /** Number of workers. */
  get size(): number {
    return this.native.size;
  }
  /** Rank among the workers on this host. */
  get localRank(): number {
    return this.native.localRank;
  }
  /** Number of workers on this host. */
  get localSize(): number {
    return this.native.localSize;
  }
  /** The transport in use: `shm`, `tcp` (or another registered one), or `self` for a single worker. */
  get transport(): string {
    return this.native.transport;
  }
  /** The all-reduce algorithms `auto` chooses among for this job, in the order it tries them. */
  get autoCandidates(): string[] {
    return this.native.autoCandidates;
  }

  /**
   * Bytes this rank's transport has sent for collectives since the communicator was created:
   * every completed send of data and of the per-call descriptors (what bus-bandwidth figures
   * are made of; 0 for a job of one).
   */
  get bytesSent(): number {
    return this.native.bytesSent;
  }

  /** What this communicator was configured with (init()'s comparison, newGroup's parent). */
  get settings(): Readonly<NativeCommConfig> {
    return this.config;
  }

  /**
   * Checks a call's arguments and builds its request: the buffer, then each option the
   * collective takes. Throws the TypeError or RangeError the caller sees.
   */
  private request(kind: OpKind, fn: string, buf: unknown, opts: unknown, root?: unknown): CollectiveRequest {
    const b = kind === 'barrier' || kind === 'join' ? undefined : checkArray(buf, fn);
    const r = ROOTED.has(kind) ? this.checkRank(root, fn, 'root') : 0;
    const o = checkOptions(opts as AnyOptions | undefined, KNOWN_OPTIONS[kind], fn);
    const ids = nativeIds();
    let op = 0;
    if (REDUCES.has(kind)) {
      const name = o.op ?? 'sum';
      if (!isOneOf(name, REDUCE_OP_NAMES)) {
        throw new RangeError(`${fn}: op must be one of ${REDUCE_OP_NAMES.join(', ')}, got ${String(name)}`);
      }
      op = ids.reduceOp[name];
    }
    const takesAlgorithm = b !== undefined && kind !== 'broadcast' && kind !== 'send' && kind !== 'recv';
    const algorithm = takesAlgorithm ? this.algorithmOf(o.algorithm, kind, fn) : 0;
    const timeoutSec = o.timeout === undefined ? 0 : checkSeconds(o.timeout, `${fn}: timeout`);
    const dtype = b === undefined ? -1 : dtypeOf(b, o, fn, COPIES.has(kind) ? 'float16' : undefined);
    const tag = o.tag === undefined ? 0 : integer(o.tag, `${fn}: tag`, 0, 2 ** 32 - 1);
    // Every field set at once: one object shape for every call.
    return {
      kind: ids.opKind[kind],
      buf: b,
      output: undefined,
      sendCounts: undefined,
      recvCounts: undefined,
      op,
      algorithm,
      root: r,
      timeoutSec,
      dtype,
      sync: false,
      peer: -1,
      tag,
    };
  }

  private algorithmOf(name: unknown, kind: OpKind, fn: string): number {
    if (name === undefined) return kind === 'allreduce' ? this.defaultAlgorithm : 0;
    if (typeof name !== 'string') {
      throw new TypeError(`${fn}: algorithm must be a string, got ${typeof name}`);
    }
    try {
      return loadBinding().algorithmId(name, nativeIds().opKind[kind]);
    } catch (err) {
      throw new RangeError(`${fn}: ${(err as Error).message}`);
    }
  }

  private checkRank(rank: unknown, fn: string, what: string): number {
    if (typeof rank !== 'number') {
      throw new TypeError(`${fn}: ${what} must be an integer rank, got ${typeof rank}`);
    }
    if (!Number.isInteger(rank) || rank < 0 || rank >= this.size) {
      throw new RangeError(`${fn}: ${what} must be an integer rank in [0, ${this.size}), got ${String(rank)}`);
    }
    return rank;
  }

  /**
   * A collective on device buffers (dtrain.cuda.alloc): checked here as host arrays are, with
   * `stream` in place of `dtype` (the buffer knows its type). NCCL or dtrain's schedules over
   * NCCL run it (engine/nccl_backend.cc).
   */
  private deviceRequest(kind: 'allreduce' | 'broadcast' | 'allgather' | 'reduceScatter', fn: string, buf: DeviceBuffer, opts: unknown, root?: unknown): CollectiveRequest {
    const known = [...KNOWN_OPTIONS[kind].filter((k) => k !== 'dtype'), 'stream'];
    const o = checkOptions(opts as (AnyOptions & { stream?: unknown }) | undefined, known, fn);
    if (o.stream !== undefined && !(o.stream instanceof Stream)) throw new TypeError(`${fn}: stream must be a dtrain.cuda Stream`);
    const op = REDUCES.has(kind) ? (o.op ?? 'sum') : 'sum';
    if (!isOneOf(op, REDUCE_OP_NAMES)) throw new RangeError(`${fn}: op must be one of ${REDUCE_OP_NAMES.join(', ')}, got ${String(op)}`);
    if (op === 'avg' && buf.dtype !== 'float32' && buf.dtype !== 'float64' && buf.dtype !== 'float16' && buf.dtype !== 'bfloat16') {
      throw new RangeError(`${fn}: op 'avg' on a device buffer of ${buf.dtype} is not supported (the integer sum may wrap before the division, and cannot be widened on the GPU as on the host); use 'sum' and divide`);
    }
    const ids = nativeIds();
    prepareKernelsForCollectives();
    return {
      kind: ids.opKind[kind],
      buf: buf.nativeMemory(fn),
      output: undefined,
      sendCounts: undefined,
      recvCounts: undefined,
      stream: o.stream === undefined ? undefined : (o.stream as Stream).nativeStream(fn),
      op: ids.reduceOp[op],
      algorithm: kind === 'broadcast' ? 0 : this.deviceAlgorithmOf(o.algorithm, kind, fn),
      root: ROOTED.has(kind) ? this.checkRank(root, fn, 'root') : 0,
      timeoutSec: o.timeout === undefined ? 0 : checkSeconds(o.timeout, `${fn}: timeout`),
      dtype: ids.dtype[buf.dtype],
      sync: false,
      peer: -1,
      tag: 0,
    };
  }

  /** An algorithm for a device call: `auto` (NCCL's own) unless one is named; never the host default. */
  private deviceAlgorithmOf(name: unknown, kind: OpKind, fn: string): number {
    return name === undefined ? 0 : this.algorithmOf(name, kind, fn);
  }

  /**
   * Runs a device request, its buffers marked in use meanwhile (DeviceBuffer.free refuses
   * then: the GPU would still read them), then `result`.
   */
  private runOnDevice<R>(req: CollectiveRequest, bufs: DeviceBuffer[], sync: boolean, result: () => R): R | Promise<R> {
    for (const b of bufs) b.inFlight++;
    const release = (): void => {
      for (const b of bufs) b.inFlight--;
    };
    if (sync) {
      try {
        this.run(req, true);
      } finally {
        release();
      }
      return result();
    }
    return this.run(req, false).then(
      () => (release(), result()),
      (err: unknown) => {
        release();
        throw err;
      },
    );
  }

  /** Device buffers' all-gather: the output is a new buffer on the input's device. */
  private deviceAllgather(buf: DeviceBuffer, opts: unknown, fn: string, sync: boolean): DeviceBuffer | Promise<DeviceBuffer> {
    const req = this.deviceRequest('allgather', fn, buf, opts);
    const out = deviceAlloc(buf.length * this.size, buf.dtype, { device: buf.device });
    req.output = out.nativeMemory(fn);
    return this.runOnDevice(req, [buf, out], sync, () => out);
  }

  /** Device buffers' reduce-scatter: reduced in a copy, so `buf` stays as it was; resolves to a new buffer of this rank's share. */
  private deviceReduceScatter(buf: DeviceBuffer, opts: unknown, fn: string, sync: boolean): DeviceBuffer | Promise<DeviceBuffer> {
    const req = this.deviceRequest('reduceScatter', fn, buf, opts);
    // The copy runs on the default stream, which does not wait for the caller's: finish that first.
    (opts as { stream?: Stream } | undefined)?.stream?.synchronize();
    const work = deviceAlloc(buf.length, buf.dtype, { device: buf.device }).copyFromDevice(buf);
    req.buf = work.nativeMemory(fn);
    const [start, count] = loadBinding().chunkOf(buf.length, this.size, this.rank);
    return this.runOnDevice(req, [work], sync, () => {
      const out = deviceAlloc(count, buf.dtype, { device: buf.device }).copyFromDevice(work, start, 0, count);
      work.free();
      return out;
    });
  }

  /** Runs a checked request, blocking or through a Promise. */
  private run(req: CollectiveRequest, sync: true): void;
  private run(req: CollectiveRequest, sync: false): Promise<void>;
  private run(req: CollectiveRequest, sync: boolean): Promise<void> | void;
  private run(req: CollectiveRequest, sync: boolean): Promise<void> | void {
    req.sync = sync;
    return this.native.run(req);
  }

  /**
   * A reduction in float64 when it averages integers (exact, where a wrapping integer sum is
   * not): the request runs on float64 copies, and `after` writes the truncated means back.
   */
  private widened(req: CollectiveRequest, bufs: CommArray[], fn: string, opts: unknown): (() => void) | undefined {
    const op = (opts as { op?: unknown } | undefined)?.op;
    const wide = widenForAverage(bufs, typeof op === 'string' ? op : 'sum', fn);
    if (!wide) return undefined;
    req.buf = Array.isArray(req.buf) ? wide : wide[0];
    req.dtype = nativeIds().dtype.float64;
    return () => narrowAverage(bufs, wide);
  }

  /** Runs `req` (Promise or blocking), then `after`; resolves to what `result` gives. */
  private finish<R>(req: CollectiveRequest, sync: boolean, after: (() => void) | undefined, result: () => R): R | Promise<R> {
    if (sync) {
      this.run(req, true);
      after?.();
      return result();
    }
    return this.run(req, false).then(() => {
      after?.();
      return result();
    });
  }

  private allreduceCall<T extends CommArray>(buf: T, opts: unknown, fn: string, sync: boolean): T | Promise<T> {
    if ((buf as unknown) instanceof DeviceBuffer) {
      const d = buf as unknown as DeviceBuffer;
      return this.runOnDevice(this.deviceRequest('allreduce', fn, d, opts), [d], sync, () => buf);
    }
    const req = this.request('allreduce', fn, buf, opts);
    return this.finish(req, sync, this.widened(req, [buf], fn, opts), () => buf);
  }

  /**
   * Reduces `buf` across all ranks in place and resolves to `buf`. A device buffer
   * (dtrain.cuda.alloc) is reduced on its GPU by NCCL (or, with a named algorithm, by dtrain's
   * schedule over NCCL's send/recv), after what `opts.stream` had queued.
   */
  async allreduce<T extends CommArray | DeviceBuffer>(buf: T, opts?: AllreduceOptions & DeviceOptions): Promise<T> {
    return this.allreduceCall(buf as CommArray, opts, 'allreduce', false) as Promise<T>;
  }

  /** Like {@link allreduce}, but blocks the calling thread until done. */
  allreduceSync<T extends CommArray | DeviceBuffer>(buf: T, opts?: AllreduceOptions & DeviceOptions): T {
    return this.allreduceCall(buf as CommArray, opts, 'allreduceSync', true) as T;
  }

  private groupedCall<T extends CommArray>(bufs: T[], opts: unknown, fn: string, sync: boolean): T[] | Promise<T[]> {
    if (!Array.isArray(bufs) || bufs.length === 0) {
      throw new TypeError(`${fn}: bufs must be a non-empty array of arrays`);
    }
    const req = this.request('allreduce', fn, bufs[0], opts);
    for (let i = 1; i < bufs.length; i++) {
      const b = checkArray(bufs[i], fn, `bufs[${i}]`);
      if (b.constructor !== bufs[0].constructor) {
        throw new TypeError(`${fn}: bufs[${i}] is a ${b.constructor.name}, bufs[0] a ${bufs[0].constructor.name}; group arrays of one type`);
      }
    }
    // A copy of the list: the engine holds it while the call runs.
    req.buf = bufs.slice();
    return this.finish(req, sync, this.widened(req, bufs, fn, opts), () => bufs);
  }

  /**
   * All-reduces every array of `bufs` in place, in one call: one descriptor exchange and one
   * schedule over the arrays as if they were one vector, without copying them into one (what
   * tensor fusion needs). The arrays must share one element type; resolves to `bufs`.
   */
  async groupedAllreduce<T extends CommArray>(bufs: T[], opts?: AllreduceOptions): Promise<T[]> {
    return this.groupedCall(bufs, opts, 'groupedAllreduce', false);
  }

  /** Like {@link groupedAllreduce}, but blocks the calling thread until done. */
  groupedAllreduceSync<T extends CommArray>(bufs: T[], opts?: AllreduceOptions): T[] {
    return this.groupedCall(bufs, opts, 'groupedAllreduceSync', true) as T[];
  }

  /** Copies `root`'s `buf` into every rank's `buf`; resolves to `buf` (a device buffer: by ncclBroadcast). */
  async broadcast<T extends CommArray | DeviceBuffer>(buf: T, root = 0, opts?: BroadcastOptions & DeviceOptions): Promise<T> {
    if (buf instanceof DeviceBuffer) return this.runOnDevice(this.deviceRequest('broadcast', 'broadcast', buf, opts, root), [buf], false, () => buf);
    await this.run(this.request('broadcast', 'broadcast', buf, opts, root), false);
    return buf;
  }

  /** Like {@link broadcast}, but blocks the calling thread until done. */
  broadcastSync<T extends CommArray | DeviceBuffer>(buf: T, root = 0, opts?: BroadcastOptions & DeviceOptions): T {
    if (buf instanceof DeviceBuffer) return this.runOnDevice(this.deviceRequest('broadcast', 'broadcastSync', buf, opts, root), [buf], true, () => buf) as T;
    this.run(this.request('broadcast', 'broadcastSync', buf, opts, root), true);
    return buf;
  }

  private allgatherRequest<T extends CommArray>(buf: T, opts: unknown, fn: string): [CollectiveRequest, T] {
    const req = this.request('allgather', fn, buf, opts);
    const out = sameKind(buf, buf.length * this.size);
    req.output = out;
    return [req, out];
  }

  /**
   * Resolves to a new array of size() * buf.length elements: every rank's `buf`, in rank order
   * (for a device buffer, a new device buffer on its GPU, by ncclAllGather).
   */
  async allgather<T extends CommArray | DeviceBuffer>(buf: T, opts?: AllgatherOptions & DeviceOptions): Promise<T> {
    if (buf instanceof DeviceBuffer) return this.deviceAllgather(buf, opts, 'allgather', false) as Promise<T>;
    const [req, out] = this.allgatherRequest(buf, opts, 'allgather');
    await this.run(req, false);
    return out as T;
  }

  /** Like {@link allgather}, but blocks the calling thread until done. */
  allgatherSync<T extends CommArray | DeviceBuffer>(buf: T, opts?: AllgatherOptions & DeviceOptions): T {
    if (buf instanceof DeviceBuffer) return this.deviceAllgather(buf, opts, 'allgatherSync', true) as T;
    const [req, out] = this.allgatherRequest(buf, opts, 'allgatherSync');
    this.run(req, true);
    return out as T;
  }

  private reduceScatterCall<T extends CommArray>(buf: T, opts: unknown, fn: string, sync: boolean): T | Promise<T> {
    if ((buf as unknown) instanceof DeviceBuffer) {
      return this.deviceReduceScatter(buf as unknown as DeviceBuffer, opts, fn, sync) as unknown as T | Promise<T>;
    }
    const req = this.request('reduceScatter', fn, buf, opts);
    const work = buf.slice() as T;
    req.buf = work;
    const after = this.widened(req, [work], fn, opts);
    const [start, count] = loadBinding().chunkOf(buf.length, this.size, this.rank);
    return this.finish(req, sync, after, () => work.slice(start, start + count) as T);
  }

  /**
   * Reduces `buf` across all ranks and resolves to this rank's share of the result: a new
   * array holding elements [start, end) of the reduced vector, where the vector is split into
   * size() contiguous chunks, the first `buf.length % size()` one element longer. `buf` is
   * left unchanged.
   */
  async reduceScatter<T extends CommArray | DeviceBuffer>(buf: T, opts?: ReduceScatterOptions & DeviceOptions): Promise<T> {
    return this.reduceScatterCall(buf as CommArray, opts, 'reduceScatter', false) as Promise<T>;
  }

  /** Like {@link reduceScatter}, but blocks the calling thread until done. */
  reduceScatterSync<T extends CommArray | DeviceBuffer>(buf: T, opts?: ReduceScatterOptions & DeviceOptions): T {
    return this.reduceScatterCall(buf as CommArray, opts, 'reduceScatterSync', true) as T;
  }

  private reduceCall<T extends CommArray>(buf: T, root: unknown, opts: unknown, fn: string, sync: boolean): T | Promise<T> {
    const req = this.request('reduce', fn, buf, opts, root);
    // Other ranks reduce into a copy: their `buf` stays as it was.
    const work = req.root === this.rank ? buf : (buf.slice() as T);
    req.buf = work;
    return this.finish(req, sync, this.widened(req, [work], fn, opts), () => buf);
  }

  /**
   * Reduces every rank's `buf` into root's `buf`, in place; other ranks' `buf` is unchanged.
   * Resolves to `buf` (on the root, the result).
   */
  async reduce<T extends CommArray>(buf: T, root = 0, opts?: ReduceOptions): Promise<T> {
    return this.reduceCall(buf, root, opts, 'reduce', false);
  }

  /** Like {@link reduce}, but blocks the calling thread until done. */
  reduceSync<T extends CommArray>(buf: T, root = 0, opts?: ReduceOptions): T {
    return this.reduceCall(buf, root, opts, 'reduceSync', true) as T;
  }

  private gatherCall<T extends CommArray>(buf: T, root: unknown, opts: unknown, fn: string, sync: boolean): T | null | Promise<T | null> {
    const req = this.request('gather', fn, buf, opts, root);
    const out = req.root === this.rank ? sameKind(buf, buf.length * this.size) : null;
    req.output = out ?? undefined;
    return this.finish(req, sync, undefined, () => out);
  }

  /**
   * Collects every rank's `buf` on `root`: the root resolves to a new array of
   * size() * buf.length elements in rank order, the other ranks to `null`.
   */
  async gather<T extends CommArray>(buf: T, root = 0, opts?: GatherOptions): Promise<T | null> {
    return this.gatherCall(buf, root, opts, 'gather', false);
  }

  /** Like {@link gather}, but blocks the calling thread until done. */
  gatherSync<T extends CommArray>(buf: T, root = 0, opts?: GatherOptions): T | null {
    return this.gatherCall(buf, root, opts, 'gatherSync', true) as T | null;
  }

  private scatterCall<T extends CommArray>(recv: T, root: unknown, opts: unknown, fn: string, sync: boolean): T | Promise<T> {
    const req = this.request('scatter', fn, recv, opts, root);
    const send = (opts as ScatterOptions | undefined)?.send;
    if (req.root === this.rank) {
      const s = checkArray(send, fn, 'send');
      if (s.constructor !== recv.constructor || s.length !== recv.length * this.size) {
        throw new RangeError(
          `${fn}: send must be a ${recv.constructor.name} of size() * recv.length = ${recv.length * this.size} elements, got a ${s.constructor.name} of ${s.length}`,
        );
      }
      req.output = s;
    } else if (send !== undefined) {
      checkArray(send, fn, 'send');
    }
    return this.finish(req, sync, undefined, () => recv);
  }

  /**
   * Hands chunk r of the root's `send` (size() * recv.length elements) to rank r: every rank's
   * `recv` gets its chunk. Resolves to `recv`. Only the root passes `send`.
   */
  async scatter<T extends CommArray>(recv: T, root = 0, opts?: ScatterOptions<T>): Promise<T> {
    return this.scatterCall(recv, root, opts, 'scatter', false);
  }

  /** Like {@link scatter}, but blocks the calling thread until done. */
  scatterSync<T extends CommArray>(recv: T, root = 0, opts?: ScatterOptions<T>): T {
    return this.scatterCall(recv, root, opts, 'scatterSync', true) as T;
  }

  private splits(counts: unknown, fn: string, name: string): Float64Array {
    if (counts === null || typeof counts !== 'object' || typeof (counts as ArrayLike<number>).length !== 'number') {
      throw new TypeError(`${fn}: ${name} must be an array of size() integers`);
    }
    const c = Float64Array.from(counts as ArrayLike<number>);
    if (c.length !== this.size) throw new RangeError(`${fn}: ${name} must have size() = ${this.size} entries, got ${c.length}`);
    c.forEach((v, i) => {
      if (!Number.isInteger(v) || v < 0) throw new RangeError(`${fn}: ${name}[${i}] must be an integer >= 0, got ${v}`);
    });
    return c;
  }

  private alltoallEqual<T extends CommArray>(buf: T, opts: unknown, fn: string, sync: boolean): T | Promise<T> {
    const req = this.request('alltoall', fn, buf, opts);
    if (buf.length % this.size !== 0) {
      throw new RangeError(`${fn}: buf must hold size() = ${this.size} equal chunks, but its length ${buf.length} does not divide; pass sendCounts for uneven splits`);
    }
    const out = sameKind(buf, buf.length);
    req.output = out;
    return this.finish(req, sync, undefined, () => out);
  }

  /**
   * All-to-all with variable splits: the ranks first swap their sendCounts (an equal
   * all-to-all of size() numbers), so a recvCounts that disagrees fails on every rank.
   */
  private alltoallVariable<T extends CommArray>(buf: T, o: AlltoallOptions, fn: string, sync: boolean): T | Promise<T> {
    const req = this.request('alltoall', fn, buf, o);
    const send = this.splits(o.sendCounts, fn, 'sendCounts');
    const total = send.reduce((a, b) => a + b, 0);
    if (total !== buf.length) throw new RangeError(`${fn}: sendCounts add up to ${total}, but buf has ${buf.length} elements`);
    const given = o.recvCounts === undefined ? undefined : this.splits(o.recvCounts, fn, 'recvCounts');
    const sub = { timeout: o.timeout };
    const check = (recv: Float64Array, bad: Int32Array): Float64Array => {
      if (bad[0] === 0) return recv;
      const mine = given ? [...given].map((v, j) => (v !== recv[j] ? `rank ${j} sends ${recv[j]}, recvCounts[${j}] is ${v}` : '')).filter(Boolean) : [];
      throw new DtrainError(
        `${fn}: recvCounts disagree with what the peers send${mine.length ? ` (here: ${mine.join('; ')})` : ' on another rank'}; leave recvCounts out to take them from the peers`,
        'ERR_DTRAIN_MISMATCH',
      );
    };
    const badOf = (recv: Float64Array) => new Int32Array([given && given.some((v, j) => v !== recv[j]) ? 1 : 0]);
    const start = (recv: Float64Array): [CollectiveRequest, T] => {
      const out = sameKind(buf, recv.reduce((a, b) => a + b, 0));
      req.output = out;
      req.sendCounts = send;
      req.recvCounts = recv;
      return [req, out];
    };
    if (sync) {
      const recv = this.alltoallSync(send, sub);
      check(recv, this.allreduceSync(badOf(recv), { op: 'max', ...sub }));
      const [r, out] = start(recv);
      this.run(r, true);
      return out;
    }
    return (async () => {
      const recv = await this.alltoall(send, sub);
      check(recv, await this.allreduce(badOf(recv), { op: 'max', ...sub }));
      const [r, out] = start(recv);
      await this.run(r, false);
      return out;
    })();
  }

  /**
   * `buf` holds size() equal chunks; resolves to a new array whose chunk j is rank j's chunk for
   * this rank. With `{ sendCounts }` (and optionally `recvCounts`) the chunks may differ in
   * length: `sendCounts[j]` elements of `buf` go to rank j, in rank order, and the result holds
   * what each rank sent here, in rank order.
   */
  async alltoall<T extends CommArray>(buf: T, opts?: AlltoallOptions): Promise<T> {
    const o = checkOptions(opts, KNOWN_OPTIONS.alltoall, 'alltoall');
    return o.sendCounts === undefined && o.recvCounts === undefined
      ? this.alltoallEqual(buf, o, 'alltoall', false)
      : this.alltoallVariable(buf, o, 'alltoall', false);
  }

  /** Like {@link alltoall}, but blocks the calling thread until done. */
  alltoallSync<T extends CommArray>(buf: T, opts?: AlltoallOptions): T {
    const o = checkOptions(opts, KNOWN_OPTIONS.alltoall, 'alltoallSync');
    return (
      o.sendCounts === undefined && o.recvCounts === undefined
        ? this.alltoallEqual(buf, o, 'alltoallSync', true)
        : this.alltoallVariable(buf, o, 'alltoallSync', true)
    ) as T;
  }

  private pointToPoint<T extends CommArray>(kind: 'send' | 'recv', buf: T, peer: unknown, opts: unknown, fn: string, sync: boolean): T | Promise<T> {
    const req = this.request(kind, fn, buf, opts);
    req.peer = this.checkRank(peer, fn, kind === 'send' ? 'to' : 'from');
    if (req.peer === this.rank) throw new RangeError(`${fn}: a rank cannot ${kind === 'send' ? 'send to' : 'receive from'} itself`);
    return this.finish(req, sync, undefined, () => buf);
  }

  /**
   * Sends `buf` to rank `to`, which receives it with {@link recv}. Resolves to `buf` once the
   * data is handed to the transport (it may still be buffered there, up to the channel size):
   * large messages that ranks send each other in a cycle need an order (even ranks send first),
   * as with MPI_Send. Collectives and messages between two ranks share one ordered stream.
   */
  async send<T extends CommArray>(buf: T, to: number, opts?: PointToPointOptions): Promise<T> {
    return this.pointToPoint('send', buf, to, opts, 'send', false);
  }

  /** Like {@link send}, but blocks the calling thread until done. */
  sendSync<T extends CommArray>(buf: T, to: number, opts?: PointToPointOptions): T {
    return this.pointToPoint('send', buf, to, opts, 'sendSync', true) as T;
  }

  /**
   * Receives the next message from rank `from` into `buf` and resolves to `buf`. The message
   * must have buf's type and length and the same tag, else ERR_DTRAIN_MISMATCH.
   */
  async recv<T extends CommArray>(buf: T, from: number, opts?: PointToPointOptions): Promise<T> {
    return this.pointToPoint('recv', buf, from, opts, 'recv', false);
  }

  /** Like {@link recv}, but blocks the calling thread until done. */
  recvSync<T extends CommArray>(buf: T, from: number, opts?: PointToPointOptions): T {
    return this.pointToPoint('recv', buf, from, opts, 'recvSync', true) as T;
  }

  private broadcastObjectCall<V>(value: V, root: number, opts: CallOptions | undefined, fn: string, sync: boolean): V | Promise<V> {
    checkOptions(opts, KNOWN_OPTIONS.barrier, fn);
    this.checkRank(root, fn, 'root');
    // A value the root cannot serialize still takes part (length -1), so no rank waits for it.
    const encoded = this.rank === root ? encodeOrError(value, fn) : new Uint8Array(0);
    const bytes = encoded instanceof Uint8Array ? encoded : new Uint8Array(0);
    const length = new Float64Array([encoded instanceof Uint8Array ? bytes.length : -1]);
    const body = (n: Float64Array) => {
      if (n[0] < 0) throw encoded instanceof Error ? encoded : new TypeError(`${fn}: the root (rank ${root}) could not serialize its value`);
      return this.rank === root ? bytes : new Uint8Array(n[0]);
    };
    const result = (b: Uint8Array) => (this.rank === root ? value : (fromBytes(b) as V));
    if (sync) return result(this.broadcastSync(body(this.broadcastSync(length, root, opts)), root, opts));
    return (async () => result(await this.broadcast(body(await this.broadcast(length, root, opts)), root, opts)))();
  }

  /**
   * Sends a plain JS value from `root` to every rank: the root resolves to `value` itself, the
   * others to a copy, made with Node's structured clone serialization (v8.serialize: objects,
   * arrays, strings, numbers, BigInts, typed arrays, Maps, Sets, Dates; a function or symbol is
   * a TypeError on the root). Two broadcasts: the length, then the bytes.
   */
  async broadcastObject<V>(value: V, root = 0, opts?: CallOptions): Promise<V> {
    return this.broadcastObjectCall(value, root, opts, 'broadcastObject', false);
  }

  /** Like {@link broadcastObject}, but blocks the calling thread until done. */
  broadcastObjectSync<V>(value: V, root = 0, opts?: CallOptions): V {
    return this.broadcastObjectCall(value, root, opts, 'broadcastObjectSync', true) as V;
  }

  private allgatherObjectCall<V>(value: V, opts: CallOptions | undefined, fn: string, sync: boolean): V[] | Promise<V[]> {
    checkOptions(opts, KNOWN_OPTIONS.barrier, fn);
    const encoded = encodeOrError(value, fn);
    const bytes = encoded instanceof Uint8Array ? encoded : new Uint8Array(0);
    const length = new Float64Array([encoded instanceof Uint8Array ? bytes.length : -1]);
    const padded = (lengths: Float64Array) => {
      const bad = [...lengths].flatMap((n, r) => (n < 0 ? [r] : []));
      if (bad.length > 0) {
        throw encoded instanceof Error ? encoded : new TypeError(`${fn}: rank ${bad.join(', ')} could not serialize its value`);
      }
      const b = new Uint8Array(Math.max(...lengths));
      b.set(bytes);
      return b;
    };
    const values = (lengths: Float64Array, all: Uint8Array): V[] => {
      const w = all.length / this.size;
      return [...lengths].map((n, r) => (r === this.rank ? value : (fromBytes(all.subarray(r * w, r * w + n)) as V)));
    };
    if (sync) {
      const lengths = this.allgatherSync(length, opts);
      return values(lengths, this.allgatherSync(padded(lengths), opts));
    }
    return (async () => {
      const lengths = await this.allgather(length, opts);
      return values(lengths, await this.allgather(padded(lengths), opts));
    })();
  }

  /**
   * Every rank's plain JS value, in rank order (this rank's own `value` at its place, copies of
   * the others', serialized as in {@link broadcastObject}).
   */
  async allgatherObject<V>(value: V, opts?: CallOptions): Promise<V[]> {
    return this.allgatherObjectCall(value, opts, 'allgatherObject', false);
  }

  /** Like {@link allgatherObject}, but blocks the calling thread until done. */
  allgatherObjectSync<V>(value: V, opts?: CallOptions): V[] {
    return this.allgatherObjectCall(value, opts, 'allgatherObjectSync', true) as V[];
  }

  /** Resolves once every rank has called barrier(). */
  async barrier(opts?: CallOptions): Promise<void> {
    await this.run(this.request('barrier', 'barrier', undefined, opts), false);
  }

  /** Blocks until every rank has called barrier. */
  barrierSync(opts?: CallOptions): void {
    this.run(this.request('barrier', 'barrierSync', undefined, opts), true);
  }

  private joinCall(opts: CallOptions | undefined, fn: string, sync: boolean): number | Promise<number> {
    const req = this.request('join', fn, undefined, opts);
    const before = this.native.joinAnswered;
    return this.finish(req, sync, undefined, () => this.native.joinAnswered - before);
  }

  /**
   * For uneven inputs (DDP's Join): a rank that has run out of data calls join(), and until
   * every rank has, it answers the others' all-reduces (plain and grouped) and barriers, adding
   * the operator's identity (zeros for sum and avg). An average divides by the ranks that
   * contributed, not by size(). Any other collective while some rank has joined fails with
   * ERR_DTRAIN_MISMATCH on every rank. Resolves, once every rank has joined, to the number of
   * all-reduces this rank answered. Each wait for the others' next call has the call timeout.
   */
  async join(opts?: CallOptions): Promise<number> {
    return this.joinCall(opts, 'join', false);
  }

  /** Like {@link join}, but blocks the calling thread until every rank has joined. */
  joinSync(opts?: CallOptions): number {
    return this.joinCall(opts, 'joinSync', true) as number;
  }

  /**
   * A communicator over a subset of this one's ranks (Horovod's ProcessSet, torch's new_group),
   * with its own transport, engine thread and descriptor checks, so it runs concurrently with
   * this one. Every rank of this communicator must call it, with the same ranks (checked: a
   * difference is ERR_DTRAIN_MISMATCH); members resolve to the group, in which rank i is the
   * i-th smallest of `ranks`, the others to `null`. shutdown() of this communicator shuts its
   * groups down first.
   */
  async newGroup(ranks: readonly number[], opts?: NewGroupOptions): Promise<Communicator | null> {
    const fn = 'newGroup';
    const o = checkOptions(opts, ['initTimeout', 'timeout', 'stallWarn'] as const, fn);
    if (o.stallWarn !== undefined && !(typeof o.stallWarn === 'number' && Number.isFinite(o.stallWarn) && o.stallWarn >= 0)) {
      throw new RangeError(`${fn}: stallWarn must be a number of seconds >= 0 (0: never), got ${String(o.stallWarn)}`);
    }
    if (!Array.isArray(ranks) || ranks.length === 0) throw new TypeError(`${fn}: ranks must be a non-empty array of ranks`);
    const members = ranks.map((r, i) => this.checkRank(r, fn, `ranks[${i}]`)).sort((a, b) => a - b);
    const dup = members.find((r, i) => i > 0 && members[i - 1] === r);
    if (dup !== undefined) throw new RangeError(`${fn}: rank ${dup} is listed twice`);
    const k = this.groupCount++;
    // Every rank must mean the same group: compare a digest of the sorted list.
    let h = 2166136261;
    for (const r of members) h = Math.imul(h ^ r, 16777619) >>> 0;
    const all = await this.allgather(new Float64Array([members.length, h, k]));
    // The ranks outside the largest group of agreeing ones are the odd ones, as for collectives.
    const key = (r: number) => `${all[3 * r]},${all[3 * r + 1]},${all[3 * r + 2]}`;
    const votes = new Map<string, number>();
    for (let r = 0; r < this.size; r++) votes.set(key(r), (votes.get(key(r)) ?? 0) + 1);
    const majority = [...votes.entries()].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
    const differ = [...Array(this.size).keys()].filter((r) => key(r) !== majority);
    if (differ.length > 0) {
      throw new DtrainError(
        `${fn}: rank${differ.length > 1 ? 's' : ''} ${differ.join(', ')} asked for a different group than the others (every rank must call newGroup with the same ranks, in the same order of newGroup calls)`,
        'ERR_DTRAIN_MISMATCH',
        differ,
      );
    }
    const index = members.indexOf(this.rank);
    if (index < 0) return null;
    const prefix = `${this.config.prefix}g${k}/`;
    const group = await Communicator.create(
      {
        ...this.config,
        rank: index,
        size: members.length,
        prefix,
        logName: `rank ${index} of group ${prefix} (parent rank ${this.rank})`,
        // The group's ranks share this host's cores with the rest of the job.
        hostRanks: Math.max(this.config.hostRanks ?? 0, this.localSize),
        jobRank: this.config.jobRank ?? this.config.rank,
        timeoutSec: o.timeout === undefined ? this.config.timeoutSec : checkSeconds(o.timeout, `${fn}: timeout`),
        stallWarnSec: o.stallWarn ?? this.config.stallWarnSec,
        bootstrapTimeoutSec:
          o.initTimeout === undefined ? this.config.bootstrapTimeoutSec : checkSeconds(o.initTimeout, `${fn}: initTimeout`),
      },
      this.defaultAlgorithmName,
    );
    this.groups.push(group);
    return group;
  }

  /**
   * Finishes queued work, waits for every rank to get here (so none closes a connection a
   * peer still reads), and closes the transport; groups made from it close first. Collectives
   * called afterwards fail with ERR_DTRAIN_CLOSED.
   */
  shutdown(): Promise<void> {
    // A second call waits for the same shutdown rather than returning before it is done.
    this.closing ??= (async () => {
      // A group that fails to close (a member died) must not leave this one's transport open.
      const groups = await Promise.allSettled(this.groups.map((g) => g.shutdown()));
      await this.native.shutdown();
      if (this.config.timelineFile) untraceCommunicator(this.native);
      const failed = groups.find((g): g is PromiseRejectedResult => g.status === 'rejected');
      if (failed) throw failed.reason;
    })();
    return this.closing;
  }
}
