/**
 * The functional API (`init`, `allreduce`, ...) over one process-wide communicator, as in
 * Horovod (`hvd.init()`, `hvd.allreduce`). `shutdown()` clears it, so `init()` may run again.
 */
import { DtrainError } from '../common/errors';
import { Communicator, type DeviceOptions } from './communicator';
import type { DeviceBuffer } from '../cuda';
import { configFromEnv, elasticFromEnv, mpiLauncherFromEnv } from './config';
import { envOf, mpiJob } from './mpi';
import { closeElasticJob, createElasticWorld, elasticJob } from '../elastic/world';
import { closePsJob, psJob, serversFromEnv, setupPsJob } from '../ps/job';
import { getClient, resetClient } from '../ps/index';
import type {
  AllgatherOptions,
  AllreduceOptions,
  AlltoallOptions,
  BroadcastOptions,
  CallOptions,
  CommArray,
  GatherOptions,
  InitOptions,
  NewGroupOptions,
  PointToPointOptions,
  ReduceOptions,
  ReduceScatterOptions,
  ScatterOptions,
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
  if (options === null || typeof options !== 'object') {
    throw new TypeError('init: options must be an object');
  }
  if (world) {
    sameSettings(world, options);
    return world;
  }
  if (!pending) {
    if (mpiLauncherFromEnv() === undefined) {
      const { config, defaultAlgorithm } = configFromEnv(options, generation++);
      pending = createWorld(config, defaultAlgorithm, options);
    } else {
      // Started by mpirun: MPI says who is who, and rank 0 hosts the store.
      const gen = generation++;
      pending = mpiJob().then((j) => {
        const { config, defaultAlgorithm } = configFromEnv(options, gen, envOf(j));
        return createWorld(config, defaultAlgorithm, options);
      });
    }
  }
  try {
    world = await pending;
    return world;
  } finally {
    pending = undefined;
  }
}

// In a parameter-server job (DTRAIN_SERVERS) the script's world is the workers' group: rank and
// size count workers, and the servers are reached through dtrain.ps.
async function createWorld(config: Parameters<typeof Communicator.create>[0], defaultAlgorithm: string, options: InitOptions): Promise<Communicator> {
  const elastic = elasticFromEnv();
  if (elastic) return createElasticWorld(config, defaultAlgorithm, elastic);
  const servers = serversFromEnv();
  if (servers > 0 && options.transport !== undefined) {
    // The servers read their settings from the launcher's environment, not from this call.
    throw new DtrainError(
      `init: in a job with parameter servers the transport is chosen for every rank with 'dtrain run --transport ${String(options.transport)}' (or DTRAIN_TRANSPORT), not init({ transport })`,
      'ERR_DTRAIN_CONFIG',
    );
  }
  const full = await Communicator.create(config, defaultAlgorithm);
  if (servers === 0) return full;
  const job = await setupPsJob(full, servers);
  if (!job.workerGroup) {
    await closePsJob(job);
    throw new DtrainError(
      `init: rank ${full.rank} is a parameter server of this job; 'dtrain run --servers' runs the servers itself (DTRAIN_SERVERS=${servers})`,
      'ERR_DTRAIN_CONFIG',
    );
  }
  return job.workerGroup;
}

/**
 * A second init() while a communicator runs: its options are checked as the first call's were,
 * and must describe the running communicator (they cannot change it).
 */
function sameSettings(running: Communicator, options: InitOptions): void {
  const { config } = configFromEnv(options, 0, { ...process.env, DTRAIN_RANK: String(running.rank), DTRAIN_SIZE: String(running.size), DTRAIN_STORE: 'x', DTRAIN_TOKEN: 'x' });
  const now = running.settings;
  const differ: string[] = [];
  if (options.transport !== undefined && config.transport !== now.transport) {
    differ.push(`transport '${config.transport}' (running: '${now.transport}')`);
  }
  if (options.timeout !== undefined && config.timeoutSec !== now.timeoutSec) {
    differ.push(`timeout ${config.timeoutSec} (running: ${now.timeoutSec})`);
  }
  if (options.initTimeout !== undefined && config.bootstrapTimeoutSec !== now.bootstrapTimeoutSec) {
    differ.push(`initTimeout ${config.bootstrapTimeoutSec} (running: ${now.bootstrapTimeoutSec})`);
  }
  if (differ.length > 0) {
    const err = new RangeError(
      `init: dtrain is already initialized with other options: ${differ.join(', ')}; call 'await shutdown()' first to start again with new ones`,
    ) as RangeError & { code: string };
    err.code = 'ERR_DTRAIN_INVALID_ARG';
    throw err;
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

/**
 * Reduces `buf` in place across all workers; resolves to `buf`. See {@link AllreduceOptions}.
 * A device buffer (dtrain.cuda.alloc) is reduced on its GPU by NCCL.
 */
export function allreduce<T extends CommArray | DeviceBuffer>(buf: T, opts?: AllreduceOptions & DeviceOptions): Promise<T> {
  return current('allreduce').allreduce(buf, opts);
}
/** Blocking {@link allreduce}, for callers that cannot await (tfjs applyGradients). */
export function allreduceSync<T extends CommArray | DeviceBuffer>(buf: T, opts?: AllreduceOptions & DeviceOptions): T {
  return current('allreduceSync').allreduceSync(buf, opts);
}
/** Copies root's `buf` to every worker; resolves to `buf`. */
export function broadcast<T extends CommArray | DeviceBuffer>(buf: T, root = 0, opts?: BroadcastOptions & DeviceOptions): Promise<T> {
  return current('broadcast').broadcast(buf, root, opts);
}
/** Blocking {@link broadcast}. */
export function broadcastSync<T extends CommArray | DeviceBuffer>(buf: T, root = 0, opts?: BroadcastOptions & DeviceOptions): T {
  return current('broadcastSync').broadcastSync(buf, root, opts);
}
/** Resolves to a new array of size() * buf.length elements, every worker's `buf` in rank order. */
export function allgather<T extends CommArray | DeviceBuffer>(buf: T, opts?: AllgatherOptions & DeviceOptions): Promise<T> {
  return current('allgather').allgather(buf, opts);
}
/** Blocking {@link allgather}. */
export function allgatherSync<T extends CommArray | DeviceBuffer>(buf: T, opts?: AllgatherOptions & DeviceOptions): T {
  return current('allgatherSync').allgatherSync(buf, opts);
}
/** Reduces `buf` across workers and resolves to this worker's chunk of the result. */
export function reduceScatter<T extends CommArray | DeviceBuffer>(buf: T, opts?: ReduceScatterOptions & DeviceOptions): Promise<T> {
  return current('reduceScatter').reduceScatter(buf, opts);
}
/** Blocking {@link reduceScatter}. */
export function reduceScatterSync<T extends CommArray | DeviceBuffer>(buf: T, opts?: ReduceScatterOptions & DeviceOptions): T {
  return current('reduceScatterSync').reduceScatterSync(buf, opts);
}
/** Blocking {@link groupedAllreduce}. */
export function groupedAllreduceSync<T extends CommArray>(bufs: T[], opts?: AllreduceOptions): T[] {
  return current('groupedAllreduceSync').groupedAllreduceSync(bufs, opts);
}
/** All-reduces every array of `bufs` in place in one call (one descriptor exchange, no copy). */
export function groupedAllreduce<T extends CommArray>(bufs: T[], opts?: AllreduceOptions): Promise<T[]> {
  return current('groupedAllreduce').groupedAllreduce(bufs, opts);
}
/** Reduces every worker's `buf` into root's `buf` in place; others' `buf` is unchanged. */
export function reduce<T extends CommArray>(buf: T, root = 0, opts?: ReduceOptions): Promise<T> {
  return current('reduce').reduce(buf, root, opts);
}
/** Blocking {@link reduce}. */
export function reduceSync<T extends CommArray>(buf: T, root = 0, opts?: ReduceOptions): T {
  return current('reduceSync').reduceSync(buf, root, opts);
}
/** Root resolves to every worker's `buf` in rank order (size() * buf.length), the others to null. */
export function gather<T extends CommArray>(buf: T, root = 0, opts?: GatherOptions): Promise<T | null> {
  return current('gather').gather(buf, root, opts);
}
/** Blocking {@link gather}. */
export function gatherSync<T extends CommArray>(buf: T, root = 0, opts?: GatherOptions): T | null {
  return current('gatherSync').gatherSync(buf, root, opts);
}
/** Every worker's `recv` gets its chunk of root's `send`; resolves to `recv`. */
export function scatter<T extends CommArray>(recv: T, root = 0, opts?: ScatterOptions<T>): Promise<T> {
  return current('scatter').scatter(recv, root, opts);
}
/** Blocking {@link scatter}. */
export function scatterSync<T extends CommArray>(recv: T, root = 0, opts?: ScatterOptions<T>): T {
  return current('scatterSync').scatterSync(recv, root, opts);
}
/** Chunk j of the result is worker j's chunk for this worker; see {@link AlltoallOptions} for uneven splits. */
export function alltoall<T extends CommArray>(buf: T, opts?: AlltoallOptions): Promise<T> {
  return current('alltoall').alltoall(buf, opts);
}
/** Blocking {@link alltoall}. */
export function alltoallSync<T extends CommArray>(buf: T, opts?: AlltoallOptions): T {
  return current('alltoallSync').alltoallSync(buf, opts);
}
/** Sends `buf` to worker `to`; resolves once handed to the transport. */
export function send<T extends CommArray>(buf: T, to: number, opts?: PointToPointOptions): Promise<T> {
  return current('send').send(buf, to, opts);
}
/** Blocking {@link send}. */
export function sendSync<T extends CommArray>(buf: T, to: number, opts?: PointToPointOptions): T {
  return current('sendSync').sendSync(buf, to, opts);
}
/** Receives the next message from worker `from` into `buf`. */
export function recv<T extends CommArray>(buf: T, from: number, opts?: PointToPointOptions): Promise<T> {
  return current('recv').recv(buf, from, opts);
}
/** Blocking {@link recv}. */
export function recvSync<T extends CommArray>(buf: T, from: number, opts?: PointToPointOptions): T {
  return current('recvSync').recvSync(buf, from, opts);
}
/** A plain JS value from root to every worker (structured clone). */
export function broadcastObject<V>(value: V, root = 0, opts?: CallOptions): Promise<V> {
  return current('broadcastObject').broadcastObject(value, root, opts);
}
/** Blocking {@link broadcastObject}. */
export function broadcastObjectSync<V>(value: V, root = 0, opts?: CallOptions): V {
  return current('broadcastObjectSync').broadcastObjectSync(value, root, opts);
}
/** Every worker's plain JS value, in rank order. */
export function allgatherObject<V>(value: V, opts?: CallOptions): Promise<V[]> {
  return current('allgatherObject').allgatherObject(value, opts);
}
/** Blocking {@link allgatherObject}. */
export function allgatherObjectSync<V>(value: V, opts?: CallOptions): V[] {
  return current('allgatherObjectSync').allgatherObjectSync(value, opts);
}
/** For uneven inputs: answer the others' all-reduces until every worker has joined. */
export function join(opts?: CallOptions): Promise<number> {
  return current('join').join(opts);
}
/** Blocking {@link join}. */
export function joinSync(opts?: CallOptions): number {
  return current('joinSync').joinSync(opts);
}
/** A communicator over a subset of the workers (members get it, the others null). */
export function newGroup(ranks: readonly number[], opts?: NewGroupOptions): Promise<Communicator | null> {
  return current('newGroup').newGroup(ranks, opts);
}
/** Resolves once every worker has called barrier(). */
export function barrier(opts?: CallOptions): Promise<void> {
  return current('barrier').barrier(opts);
}
/** Blocking {@link barrier}. */
export function barrierSync(opts?: CallOptions): void {
  current('barrierSync').barrierSync(opts);
}

/**
 * Makes `comm` the module's communicator (elastic training swaps in each generation's); the
 * previous one must already be shut down.
 */
export function replaceWorld(comm: Communicator): void {
  world = comm;
}

/** Leaves the job cleanly (a final barrier, then the transport closes); init() may follow. */
export async function shutdown(): Promise<void> {
  const w = world;
  world = undefined;
  if (!w) return;
  if (elasticJob()) {
    closedGeneration = generation;
    try {
      await w.shutdown();
    } catch (err) {
      // The loop has finished; a peer lost during the goodbye changes nothing for this one.
      process.stderr.write(`dtrain elastic: a peer was lost while leaving the job (${(err as Error).message}); this worker's results stand\n`);
    } finally {
      await closeElasticJob();
    }
    return;
  }
  closedGeneration = generation;
  const job = psJob();
  if (job && job.workerGroup === w) {
    // Tell the servers this worker is done (they wait for every worker), then leave the job.
    try {
      await getClient('shutdown').close();
    } finally {
      resetClient();
      await closePsJob(job);
    }
    return;
  }
  await w.shutdown();
}
