/**
 * A communicator: the ranks of a job and the collectives among them. Checks every argument in
 * JS (a TypeError or RangeError naming it, before anything is sent) and hands the native engine
 * one request per call; the engine runs collectives on its own thread in call order.
 */
import { DTYPE_NAMES, isOneOf, nativeIds, REDUCE_OP_NAMES, type DType, type OpKind } from '../common/constants';
import { checkOptions } from '../common/args';
import { loadBinding, type CollectiveRequest, type NativeCommunicator, type NativeCommConfig } from '../native';
import { checkSeconds } from './config';
import type {
  AllgatherOptions,
  AllreduceOptions,
  BroadcastOptions,
  CallOptions,
  CommArray,
  ReduceScatterOptions,
} from './types';

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
function dtypeOf(buf: CommArray, o: { dtype?: unknown }, fn: string, halfDefault?: DType): number {
  const ids = nativeIds().dtype;
  const named = o.dtype;
  if (named !== undefined && !isOneOf(named, DTYPE_NAMES)) {
    throw new RangeError(`${fn}: dtype must be one of ${DTYPE_NAMES.join(', ')}, got ${String(named)}`);
  }
  const own = arrayDType(buf);
  if (own === undefined) {
    const half = named ?? halfDefault;
    if (half !== 'float16' && half !== 'bfloat16') {
      throw new TypeError(
        half === undefined
          ? `${fn}: buf is a Uint16Array: pass { dtype: 'float16' } or { dtype: 'bfloat16' } to say what its bits hold`
          : `${fn}: dtype ${half} does not fit a Uint16Array; use float16 or bfloat16`,
      );
    }
    return ids[half];
  }
  if (named !== undefined && named !== own) {
    throw new TypeError(`${fn}: dtype ${String(named)} does not match buf, a ${buf.constructor.name}`);
  }
  return ids[own];
}

/** The options each collective takes; anything else is a typo worth an error. */
const KNOWN_OPTIONS = {
  allreduce: ['op', 'algorithm', 'dtype', 'timeout'],
  reduceScatter: ['op', 'algorithm', 'dtype', 'timeout'],
  allgather: ['algorithm', 'dtype', 'timeout'],
  broadcast: ['dtype', 'timeout'],
  barrier: ['timeout'],
} as const;

/** The options any collective may take, checked by {@link Communicator}'s request builder. */
type AnyOptions = AllreduceOptions & AllgatherOptions & BroadcastOptions & CallOptions;

/** A group of ranks that run collectives together. Create one with {@link init}. */
export class Communicator {
  private readonly native: NativeCommunicator;
  private readonly defaultAlgorithm: number;
  private closing: Promise<void> | undefined;

  private constructor(native: NativeCommunicator, defaultAlgorithm: number) {
    this.native = native;
    this.defaultAlgorithm = defaultAlgorithm;
  }

  /**
   * Connects to every peer; resolves once the transport is up. When the transport was `auto`,
   * rank 0 logs which one it chose and why.
   */
  static async create(config: NativeCommConfig, defaultAlgorithm = 'auto'): Promise<Communicator> {
    const binding = loadBinding();
    const algo = binding.algorithmId(defaultAlgorithm);
    const native = new binding.Communicator(config);
    const comm = new Communicator(native, algo);
    await native.ready();
    if (config.transport === 'auto' && native.rank === 0 && native.size > 1) {
      process.stderr.write(`dtrain: transport auto chose ${native.transport}: ${native.transportReason}\n`);
    }
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

  /**
   * Checks a call's arguments and builds its request: the buffer, then each option the
   * collective takes. Throws the TypeError or RangeError the caller sees.
   */
  private request(kind: OpKind, fn: string, buf: unknown, opts: unknown, root?: unknown): CollectiveRequest {
    const b = kind === 'barrier' ? undefined : checkArray(buf, fn);
    const r = kind === 'broadcast' ? this.checkRoot(root, fn) : 0;
    const o = checkOptions(opts as AnyOptions | undefined, KNOWN_OPTIONS[kind], fn);
    const ids = nativeIds();
    let op = 0;
    if (kind === 'allreduce' || kind === 'reduceScatter') {
      const name = o.op ?? 'sum';
      if (!isOneOf(name, REDUCE_OP_NAMES)) {
        throw new RangeError(`${fn}: op must be one of ${REDUCE_OP_NAMES.join(', ')}, got ${String(name)}`);
      }
      op = ids.reduceOp[name];
    }
    const algorithm = b !== undefined && kind !== 'broadcast' ? this.algorithmOf(o.algorithm, kind, fn) : 0;
    const timeoutSec = o.timeout === undefined ? 0 : checkSeconds(o.timeout, `${fn}: timeout`);
    const dtype =
      b === undefined ? -1 : dtypeOf(b, o, fn, kind === 'broadcast' || kind === 'allgather' ? 'float16' : undefined);
    // Every field set at once: one object shape for every call.
    return { kind: ids.opKind[kind], buf: b, output: undefined, op, algorithm, root: r, timeoutSec, dtype, sync: false };
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

  private checkRoot(root: unknown, fn: string): number {
    if (typeof root !== 'number') {
      throw new TypeError(`${fn}: root must be an integer rank, got ${typeof root}`);
    }
    if (!Number.isInteger(root) || root < 0 || root >= this.size) {
      throw new RangeError(`${fn}: root must be an integer rank in [0, ${this.size}), got ${String(root)}`);
    }
    return root;
  }

  /** Runs a checked request, blocking or through a Promise. */
  private run(req: CollectiveRequest, sync: true): void;
  private run(req: CollectiveRequest, sync: false): Promise<void>;
  private run(req: CollectiveRequest, sync: boolean): Promise<void> | void {
    req.sync = sync;
    return this.native.run(req);
  }

  /** Reduces `buf` across all ranks in place and resolves to `buf`. */
  async allreduce<T extends CommArray>(buf: T, opts?: AllreduceOptions): Promise<T> {
    await this.run(this.request('allreduce', 'allreduce', buf, opts), false);
    return buf;
  }

  /** Like {@link allreduce}, but blocks the calling thread until done. */
  allreduceSync<T extends CommArray>(buf: T, opts?: AllreduceOptions): T {
    this.run(this.request('allreduce', 'allreduceSync', buf, opts), true);
    return buf;
  }

  /** Copies `root`'s `buf` into every rank's `buf`; resolves to `buf`. */
  async broadcast<T extends CommArray>(buf: T, root = 0, opts?: BroadcastOptions): Promise<T> {
    await this.run(this.request('broadcast', 'broadcast', buf, opts, root), false);
    return buf;
  }

  /** Like {@link broadcast}, but blocks the calling thread until done. */
  broadcastSync<T extends CommArray>(buf: T, root = 0, opts?: BroadcastOptions): T {
    this.run(this.request('broadcast', 'broadcastSync', buf, opts, root), true);
    return buf;
  }

  private allgatherRequest<T extends CommArray>(buf: T, opts: unknown, fn: string): [CollectiveRequest, T] {
    const req = this.request('allgather', fn, buf, opts);
    const out = new (buf.constructor as new (n: number) => T)(buf.length * this.size);
    req.output = out;
    return [req, out];
  }

  /** Resolves to a new array of size() * buf.length elements: every rank's `buf`, in rank order. */
  async allgather<T extends CommArray>(buf: T, opts?: AllgatherOptions): Promise<T> {
    const [req, out] = this.allgatherRequest(buf, opts, 'allgather');
    await this.run(req, false);
    return out;
  }

  /** Like {@link allgather}, but blocks the calling thread until done. */
  allgatherSync<T extends CommArray>(buf: T, opts?: AllgatherOptions): T {
    const [req, out] = this.allgatherRequest(buf, opts, 'allgatherSync');
    this.run(req, true);
    return out;
  }

  /** The request on a copy of `buf`, and the [start, end) of this rank's share of the result. */
  private reduceScatterRequest<T extends CommArray>(buf: T, opts: unknown, fn: string): [CollectiveRequest, T, number, number] {
    const req = this.request('reduceScatter', fn, buf, opts);
    const work = buf.slice() as T;
    req.buf = work;
    const [start, count] = loadBinding().chunkOf(buf.length, this.size, this.rank);
    return [req, work, start, start + count];
  }

  /**
   * Reduces `buf` across all ranks and resolves to this rank's share of the result: a new
   * array holding elements [start, end) of the reduced vector, where the vector is split into
   * size() contiguous chunks, the first `buf.length % size()` one element longer. `buf` is
   * left unchanged.
   */
  async reduceScatter<T extends CommArray>(buf: T, opts?: ReduceScatterOptions): Promise<T> {
    const [req, work, start, end] = this.reduceScatterRequest(buf, opts, 'reduceScatter');
    await this.run(req, false);
    return work.slice(start, end) as T;
  }

  /** Like {@link reduceScatter}, but blocks the calling thread until done. */
  reduceScatterSync<T extends CommArray>(buf: T, opts?: ReduceScatterOptions): T {
    const [req, work, start, end] = this.reduceScatterRequest(buf, opts, 'reduceScatterSync');
    this.run(req, true);
    return work.slice(start, end) as T;
  }

  /** Resolves once every rank has called barrier(). */
  async barrier(opts?: CallOptions): Promise<void> {
    await this.run(this.request('barrier', 'barrier', undefined, opts), false);
  }

  /** Blocks until every rank has called barrier. */
  barrierSync(opts?: CallOptions): void {
    this.run(this.request('barrier', 'barrierSync', undefined, opts), true);
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
