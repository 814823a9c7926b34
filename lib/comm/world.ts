/**
 * The functional API (`init`, `allreduce`, ...) over one process-wide communicator, as in
 * Horovod (`hvd.init()`, `hvd.allreduce`). `shutdown()` clears it, so `init()` may run again.
 */
import { DtrainError } from '../common/errors';
import { Communicator } from './communicator';
import { configFromEnv } from './config';
import type {
  AllgatherOptions,
  AllreduceOptions,
  BroadcastOptions,
  CallOptions,
  CommArray,
  InitOptions,
  ReduceScatterOptions,
} from './types';

let world: Communicator | undefined;
let pending: Promise<Communicator> | undefined;
// Every rank counts its init() calls alike, so a re-created communicator's rendezvous keys
// never meet the previous one's.
let generation = 0;
// The generation shutdown() closed: while no init() has started since, a call is
// ERR_DTRAIN_CLOSED rather than ERR_DTRAIN_NOT_INITIALIZED.
let closedGeneration = -1;

function joined(who: string, initCall: string): Communicator {
  if (world) return world;
  if (closedGeneration === generation) {
    throw new DtrainError(`${who}: shutdown() has closed the job; call '${initCall}' first to join again`, 'ERR_DTRAIN_CLOSED');
  }
  throw new DtrainError(`${who}: call '${initCall}' first`, 'ERR_DTRAIN_NOT_INITIALIZED');
}

function current(fn: string): Communicator {
  return joined(`dtrain.${fn}()`, 'await init()');
}

/**
 * The communicator `init()` created, for components that default to it (the
 * DistributedOptimizer, the Trainer).
 *
 * @throws DtrainError naming `who`: ERR_DTRAIN_NOT_INITIALIZED before init() has finished,
 *   ERR_DTRAIN_CLOSED after shutdown()
 */
export function getCommunicator(who = 'getCommunicator'): Communicator {
  return joined(who, 'await dtrain.init()');
}

/**
 * Joins the job: reads rank, size and the rendezvous store from the launcher's environment
 * (DTRAIN_RANK, DTRAIN_SIZE, DTRAIN_STORE, DTRAIN_TOKEN, ...) and connects to every peer.
 * Without a launcher it starts a job of one. Calling it again before shutdown() returns the
 * same communicator.
 */
export async function init(options: InitOptions = {}): Promise<Communicator> {
  if (world) return world;
  if (!pending) {
    if (options === null || typeof options !== 'object') {
      throw new TypeError('init: options must be an object');
    }
    const { config, defaultAlgorithm } = configFromEnv(options, generation++);
    pending = Communicator.create(config, defaultAlgorithm);
  }
  try {
    world = await pending;
    return world;
  } finally {
    pending = undefined;
  }
}

/** This worker's rank. */
export function rank(): number {
  return current('rank').rank;
}
/** Number of workers. */
export function size(): number {
  return current('size').size;
}
/** Rank among the workers on this host. */
export function localRank(): number {
  return current('localRank').localRank;
}
/** Number of workers on this host. */
export function localSize(): number {
  return current('localSize').localSize;
}

/** Reduces `buf` in place across all workers; resolves to `buf`. See {@link AllreduceOptions}. */
export function allreduce<T extends CommArray>(buf: T, opts?: AllreduceOptions): Promise<T> {
  return current('allreduce').allreduce(buf, opts);
}
/** Blocking {@link allreduce}, for callers that cannot await (tfjs applyGradients). */
export function allreduceSync<T extends CommArray>(buf: T, opts?: AllreduceOptions): T {
  return current('allreduceSync').allreduceSync(buf, opts);
}
/** Copies root's `buf` to every worker; resolves to `buf`. */
export function broadcast<T extends CommArray>(buf: T, root = 0, opts?: BroadcastOptions): Promise<T> {
  return current('broadcast').broadcast(buf, root, opts);
}
/** Blocking {@link broadcast}. */
export function broadcastSync<T extends CommArray>(buf: T, root = 0, opts?: BroadcastOptions): T {
  return current('broadcastSync').broadcastSync(buf, root, opts);
}
/** Resolves to a new array of size() * buf.length elements, every worker's `buf` in rank order. */
export function allgather<T extends CommArray>(buf: T, opts?: AllgatherOptions): Promise<T> {
  return current('allgather').allgather(buf, opts);
}
/** Blocking {@link allgather}. */
export function allgatherSync<T extends CommArray>(buf: T, opts?: AllgatherOptions): T {
  return current('allgatherSync').allgatherSync(buf, opts);
}
/** Reduces `buf` across workers and resolves to this worker's chunk of the result. */
export function reduceScatter<T extends CommArray>(buf: T, opts?: ReduceScatterOptions): Promise<T> {
  return current('reduceScatter').reduceScatter(buf, opts);
}
/** Blocking {@link reduceScatter}. */
export function reduceScatterSync<T extends CommArray>(buf: T, opts?: ReduceScatterOptions): T {
  return current('reduceScatterSync').reduceScatterSync(buf, opts);
}
/** Resolves once every worker has called barrier(). */
export function barrier(opts?: CallOptions): Promise<void> {
  return current('barrier').barrier(opts);
}
/** Blocking {@link barrier}. */
export function barrierSync(opts?: CallOptions): void {
  current('barrierSync').barrierSync(opts);
}

/** Leaves the job cleanly (a final barrier, then the transport closes); init() may follow. */
export async function shutdown(): Promise<void> {
  const w = world;
  world = undefined;
  if (!w) return;
  closedGeneration = generation;
  await w.shutdown();
}
