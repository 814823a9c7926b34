/**
 * A communicator: the ranks of a job and the collectives among them. Checks every argument in
 * JS (a TypeError or RangeError naming it, before anything is sent) and forwards to the
 * native engine, which runs collectives on its own thread in call order.
 */
import { loadBinding, type NativeCommunicator, type NativeCommConfig } from '../native';
import { checkSeconds } from './config';
import type {
  AllgatherOptions,
  AllreduceOptions,
  BroadcastOptions,
  CallOptions,
  CommArray,
  DType,
  ReduceOp,
  ReduceScatterOptions,
} from './types';

const REDUCE_OPS: Record<ReduceOp, number> = { sum: 0, avg: 1, min: 2, max: 3 };

/** The native DType values (native/common/dtype.h). */
const DTYPES: Record<DType, number> = { float32: 0, float64: 1, int32: 2, float16: 3, bfloat16: 4 };

function checkArray(buf: unknown, fn: string, name = 'buf'): CommArray {
  if (
    !(
      buf instanceof Float32Array ||
      buf instanceof Float64Array ||
      buf instanceof Int32Array ||
      buf instanceof Uint16Array
    )
  ) {
    const got =
      buf === null ? 'null' : typeof buf === 'object' ? (buf as object).constructor?.name : typeof buf;
    throw new TypeError(
      `${fn}: ${name} must be a Float32Array, Float64Array, Int32Array or Uint16Array (float16 or bfloat16 bits), got ${got}`,
    );
  }
  return buf;
}

function arrayDType(buf: CommArray): DType | undefined {
  if (buf instanceof Float32Array) return 'float32';
  if (buf instanceof Float64Array) return 'float64';
  if (buf instanceof Int32Array) return 'int32';
  return undefined;
}

/**
 * The native DType value for `buf` and the `dtype` option. A Uint16Array needs `float16` or
 * `bfloat16`: named, or `halfDefault` where the bits are only copied (broadcast, allgather).
 */
function dtypeOf(buf: CommArray, o: Record<string, unknown>, fn: string, halfDefault?: DType): number {
  const named = o.dtype;
  if (named !== undefined && (typeof named !== 'string' || !Object.hasOwn(DTYPES, named))) {
    throw new RangeError(`${fn}: dtype must be one of ${Object.keys(DTYPES).join(', ')}, got ${String(named)}`);
  }
  const own = arrayDType(buf);
  if (own === undefined) {
    const half = (named as DType | undefined) ?? halfDefault;
    if (half !== 'float16' && half !== 'bfloat16') {
      throw new TypeError(
        half === undefined
          ? `${fn}: buf is a Uint16Array: pass { dtype: 'float16' } or { dtype: 'bfloat16' } to say what its bits hold`
          : `${fn}: dtype ${half} does not fit a Uint16Array; use float16 or bfloat16`,
      );
    }
    return DTYPES[half];
  }
  if (named !== undefined && named !== own) {
    throw new TypeError(`${fn}: dtype ${String(named)} does not match buf, a ${buf.constructor.name}`);
  }
  return DTYPES[own];
}

/** The options each collective takes; anything else is a typo worth an error. */
const KNOWN_OPTIONS = {
  allreduce: ['op', 'algorithm', 'dtype', 'timeout'],
  reduceScatter: ['op', 'algorithm', 'dtype', 'timeout'],
  allgather: ['algorithm', 'dtype', 'timeout'],
  broadcast: ['dtype', 'timeout'],
  other: ['timeout'],
} as const;

function checkOptions(opts: unknown, fn: string, known: readonly string[] = KNOWN_OPTIONS.other): Record<string, unknown> {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object') {
    throw new TypeError(`${fn}: options must be an object, got ${opts === null ? 'null' : typeof opts}`);
  }
  for (const key of Object.keys(opts)) {
    if (!known.includes(key)) {
      throw new TypeError(`${fn}: unknown option '${key}'; the options are ${known.join(', ')}`);
    }
  }
  return opts as Record<string, unknown>;
}

/** A group of ranks that run collectives together. Create one with {@link init}. */
export class Communicator {
  private readonly native: NativeCommunicator;
  private readonly defaultAlgorithm: number;
  private closing: Promise<void> | undefined;

  private constructor(native: NativeCommunicator, defaultAlgorithm: number) {
    this.native = native;
    this.defaultAlgorithm = defaultAlgorithm;
  }

  /** Connects to every peer; resolves once the transport is up. */
  static async create(config: NativeCommConfig, defaultAlgorithm = 'auto'): Promise<Communicator> {
    const binding = loadBinding();
    const algo = binding.algorithmId(defaultAlgorithm);
    const native = new binding.Communicator(config);
    const comm = new Communicator(native, algo);
    await native.ready();
    return comm;
  }

  /** This worker's rank, 0..size()-1. */
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
  /** The transport in use: `shm`, `tcp`, or `self` for a single worker. */
  get transport(): string {
    return this.native.transport;
  }

  /**
   * Bytes this rank's transport has sent for collectives since the communicator was created:
   * every completed send of data and of the per-call descriptors (what bus-bandwidth figures
   * are made of; 0 for a job of one).
   */
  get bytesSent(): number {
    return this.native.bytesSent;
  }

  private allreduceArgs(buf: unknown, opts: unknown, fn: string): [CommArray, number, number, number, number] {
    const b = checkArray(buf, fn);
    const o = checkOptions(opts, fn, KNOWN_OPTIONS.allreduce);
    return [
      b,
      this.opOf(o, fn),
      this.algorithmOf(o, fn, this.defaultAlgorithm),
      this.timeoutOf(o, fn),
      dtypeOf(b, o, fn),
    ];
  }

  private opOf(o: Record<string, unknown>, fn: string): number {
    const op = o.op ?? 'sum';
    if (typeof op !== 'string' || !(op in REDUCE_OPS)) {
      throw new RangeError(`${fn}: op must be one of sum, avg, min, max, got ${String(op)}`);
    }
    return REDUCE_OPS[op as ReduceOp];
  }

  private algorithmOf(o: Record<string, unknown>, fn: string, dflt: number): number {
    if (o.algorithm === undefined) return dflt;
    if (typeof o.algorithm !== 'string') {
      throw new TypeError(`${fn}: algorithm must be a string, got ${typeof o.algorithm}`);
    }
    try {
      return loadBinding().algorithmId(o.algorithm);
    } catch (err) {
      throw new RangeError(`${fn}: ${(err as Error).message}`);
    }
  }

  private timeoutOf(o: Record<string, unknown>, fn: string): number {
    return o.timeout === undefined ? 0 : checkSeconds(o.timeout, `${fn}: timeout`);
  }

  private checkRoot(root: unknown, fn: string): number {
    if (typeof root !== 'number') {
      throw new TypeError(`${fn}: root must be an integer rank, got ${typeof root}`);
    }
    if (typeof root !== 'number' || !Number.isInteger(root) || root < 0 || root >= this.size) {
      throw new RangeError(`${fn}: root must be an integer rank in [0, ${this.size}), got ${String(root)}`);
    }
    return root;
  }

  /** Reduces `buf` across all ranks in place and resolves to `buf`. */
  async allreduce<T extends CommArray>(buf: T, opts?: AllreduceOptions): Promise<T> {
    const [b, op, algo, timeout, dtype] = this.allreduceArgs(buf, opts, 'allreduce');
    await this.native.allreduce(b, op, algo, timeout, dtype, false);
    return buf;
  }

  /** Like {@link allreduce}, but blocks the calling thread until done. */
  allreduceSync<T extends CommArray>(buf: T, opts?: AllreduceOptions): T {
    const [b, op, algo, timeout, dtype] = this.allreduceArgs(buf, opts, 'allreduceSync');
    this.native.allreduce(b, op, algo, timeout, dtype, true);
    return buf;
  }

  private broadcastArgs(buf: unknown, root: unknown, opts: unknown, fn: string): [CommArray, number, number, number] {
    const b = checkArray(buf, fn);
    const r = this.checkRoot(root, fn);
    const o = checkOptions(opts, fn, KNOWN_OPTIONS.broadcast);
    return [b, r, this.timeoutOf(o, fn), dtypeOf(b, o, fn, 'float16')];
  }

  /** Copies `root`'s `buf` into every rank's `buf`; resolves to `buf`. */
  async broadcast<T extends CommArray>(buf: T, root = 0, opts?: BroadcastOptions): Promise<T> {
    const [b, r, t, dtype] = this.broadcastArgs(buf, root, opts, 'broadcast');
    await this.native.broadcast(b, r, t, dtype, false);
    return buf;
  }

  /** Like {@link broadcast}, but blocks the calling thread until done. */
  broadcastSync<T extends CommArray>(buf: T, root = 0, opts?: BroadcastOptions): T {
    const [b, r, t, dtype] = this.broadcastArgs(buf, root, opts, 'broadcastSync');
    this.native.broadcast(b, r, t, dtype, true);
    return buf;
  }

  private allgatherArgs<T extends CommArray>(buf: T, opts: unknown, fn: string): [CommArray, T, number, number, number] {
    const b = checkArray(buf, fn);
    const o = checkOptions(opts, fn, KNOWN_OPTIONS.allgather);
    const algo = this.algorithmOf(o, fn, 0);
    const dtype = dtypeOf(b, o, fn, 'float16');
    const out = new (b.constructor as new (n: number) => T)(b.length * this.size);
    return [b, out, algo, this.timeoutOf(o, fn), dtype];
  }

  /** Resolves to a new array of size() * buf.length elements: every rank's `buf`, in rank order. */
  async allgather<T extends CommArray>(buf: T, opts?: AllgatherOptions): Promise<T> {
    const [b, out, algo, t, dtype] = this.allgatherArgs(buf, opts, 'allgather');
    await this.native.allgather(b, out, algo, t, dtype, false);
    return out;
  }

  /** Like {@link allgather}, but blocks the calling thread until done. */
  allgatherSync<T extends CommArray>(buf: T, opts?: AllgatherOptions): T {
    const [b, out, algo, t, dtype] = this.allgatherArgs(buf, opts, 'allgatherSync');
    this.native.allgather(b, out, algo, t, dtype, true);
    return out;
  }

  private reduceScatterArgs<T extends CommArray>(
    buf: T,
    opts: unknown,
    fn: string,
  ): [T, number, number, number, number, number, number] {
    const b = checkArray(buf, fn) as T;
    const o = checkOptions(opts, fn, KNOWN_OPTIONS.reduceScatter);
    const op = this.opOf(o, fn);
    const algo = this.algorithmOf(o, fn, 0);
    const dtype = dtypeOf(b, o, fn);
    // The same split as the native schedules: the first length % size chunks are one longer.
    const q = Math.floor(b.length / this.size);
    const rem = b.length % this.size;
    const start = this.rank * q + Math.min(this.rank, rem);
    const end = start + q + (this.rank < rem ? 1 : 0);
    return [b.slice() as T, op, algo, this.timeoutOf(o, fn), dtype, start, end];
  }

  /**
   * Reduces `buf` across all ranks and resolves to this rank's share of the result: a new
   * array holding elements [start, end) of the reduced vector, where the vector is split into
   * size() contiguous chunks, the first `buf.length % size()` one element longer. `buf` is
   * left unchanged.
   */
  async reduceScatter<T extends CommArray>(buf: T, opts?: ReduceScatterOptions): Promise<T> {
    const [work, op, algo, t, dtype, start, end] = this.reduceScatterArgs(buf, opts, 'reduceScatter');
    await this.native.reduceScatter(work, op, algo, t, dtype, false);
    return work.slice(start, end) as T;
  }

  /** Like {@link reduceScatter}, but blocks the calling thread until done. */
  reduceScatterSync<T extends CommArray>(buf: T, opts?: ReduceScatterOptions): T {
    const [work, op, algo, t, dtype, start, end] = this.reduceScatterArgs(buf, opts, 'reduceScatterSync');
    this.native.reduceScatter(work, op, algo, t, dtype, true);
    return work.slice(start, end) as T;
  }

  /** Resolves once every rank has called barrier(). */
  async barrier(opts?: CallOptions): Promise<void> {
    await this.native.barrier(this.timeoutOf(checkOptions(opts, 'barrier'), 'barrier'), false);
  }

  /** Blocks until every rank has called barrier. */
  barrierSync(opts?: CallOptions): void {
    this.native.barrier(this.timeoutOf(checkOptions(opts, 'barrierSync'), 'barrierSync'), true);
  }

  /**
   * Finishes queued work, waits for every rank to get here (so none closes a connection a
   * peer still reads), and closes the transport. Collectives called afterwards fail.
   */
  shutdown(): Promise<void> {
    // A second call waits for the same shutdown rather than returning before it is done.
    this.closing ??= this.native.shutdown();
    return this.closing;
  }
}
