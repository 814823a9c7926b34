/**
 * The shape of a parameter-server job (`dtrain run -np N --servers K`): N workers (ranks
 * 0..N-1) and K servers (ranks N..N+K-1) in one communicator, plus a two-rank communicator per
 * (worker, server) pair, so a server serves every worker concurrently (each pair has its own
 * ordered stream and engine thread; a server never waits on one worker's message while another
 * worker's is ready), and one over the workers, which init() hands the script as its world:
 * `dtrain.size()` counts workers, and collectives among them work as in any job.
 */
import { Communicator } from '../comm/communicator';
import { DtrainError } from '../common/errors';
export { serversFromEnv } from '../comm/config';

export interface PsJob {
  /** Every rank: workers and servers. */
  full: Communicator;
  role: 'worker' | 'server';
  workers: number;
  servers: number;
  /** Worker index (= rank) or server index (rank - workers). */
  index: number;
  /** Worker: its pair with each server; server: its pair with each worker. Pair rank 0 is the worker. */
  pairs: Communicator[];
  /** The workers' own communicator (null on servers). */
  workerGroup: Communicator | null;
}

let current: PsJob | undefined;

/** Builds the pairs and the workers' group over `full`; every rank of the job calls it. */
export async function setupPsJob(full: Communicator, servers: number): Promise<PsJob> {
  const workers = full.size - servers;
  if (workers < 1) {
    throw new DtrainError(`a job of ${full.size} ranks cannot have ${servers} servers and a worker`, 'ERR_DTRAIN_CONFIG');
  }
  const role = full.rank < workers ? 'worker' : 'server';
  const index = role === 'worker' ? full.rank : full.rank - workers;
  // Started together: the newGroup calls queue their agreement steps on `full` in this order on
  // every rank, and each pair's transport then comes up alongside the others.
  const made: Promise<Communicator | null>[] = [];
  // A pair's waits are a server idle between requests or a worker held by SSP's bound or the
  // end of the job: expected, so no stall warnings (lost peers and timeouts still apply).
  for (let s = 0; s < servers; s++) for (let w = 0; w < workers; w++) made.push(full.newGroup([w, workers + s], { stallWarn: 0 }));
  made.push(full.newGroup(Array.from({ length: workers }, (_, w) => w)));
  const groups = await Promise.all(made);
  const workerGroup = groups.pop() ?? null;
  const pairs = groups.filter((g): g is Communicator => g !== null);
  current = { full, role, workers, servers, index, pairs, workerGroup };
  return current;
}

/** The running parameter-server job, if this process is part of one. */
export function psJob(): PsJob | undefined {
  return current;
}

/**
 * Leaves the job: pairs, workers' group, then everyone. A rank that died or hung (the servers
 * dropped it, the survivors went on) cannot take part in the closing barriers; that is expected
 * here, so a lost or absent peer at this point is not an error.
 */
export async function closePsJob(job: PsJob): Promise<void> {
  if (current === job) current = undefined;
  const tolerate = (err: unknown) => {
    const code = (err as { code?: string }).code;
    // TIMEOUT: a worker the servers dropped for silence may still be alive, and never come.
    if (code !== 'ERR_DTRAIN_PEER_LOST' && code !== 'ERR_DTRAIN_BROKEN' && code !== 'ERR_DTRAIN_CLOSED' && code !== 'ERR_DTRAIN_TIMEOUT') throw err;
  };
  await job.full.shutdown().catch(tolerate);
}
