import { getCommunicator, replaceWorld } from '../comm/world';
import { DtrainError } from '../common/errors';
import type { State } from './state';
import { elasticJob, regroup } from './world';

/** Failures a new generation recovers from: a lost or stuck peer, or an agreed membership change. */
const RECOVERABLE: ReadonlySet<string> = new Set(['ERR_DTRAIN_PEER_LOST', 'ERR_DTRAIN_BROKEN', 'ERR_DTRAIN_TIMEOUT', 'ERR_DTRAIN_MEMBERSHIP']);

/** What the latest recovery took, for logs and summaries. */
export interface RecoveryStats {
  /** Recoveries in this process. */
  resets: number;
  /** Seconds from the failure reaching this worker to the next generation synced, per reset. */
  recoverySeconds: number[];
}

const stats: RecoveryStats = { resets: 0, recoverySeconds: [] };

/** Recoveries so far in this process and how long each took. */
export function recoveryStats(): RecoveryStats {
  return { resets: stats.resets, recoverySeconds: [...stats.recoverySeconds] };
}

/**
 * Runs `fn(state)` (the training loop) and keeps it running across membership changes, as
 * Horovod's `hvd.elastic.run`: first every rank takes rank 0's state (so a worker that joins
 * receives it); when a collective fails because a worker was lost (or stuck past the
 * timeout), or a commit agreed that one waits to join, every survivor discards the step in
 * flight, leaves the communicator, agrees on the next membership, restores its last commit,
 * syncs from the survivor whose commit is latest, runs the reset callbacks, and calls `fn` again.
 *
 * Outside an elastic job (`dtrain run` without `--elastic`) it runs `fn` once, failures included.
 *
 * @returns what `fn` returns
 * @throws DtrainError ERR_DTRAIN_MEMBERSHIP when fewer than --min-np workers stay alive for
 *   --elastic-timeout; any error of `fn` that is not a membership failure, unchanged
 */
export async function run<T>(state: State, fn: (state: State) => Promise<T>): Promise<T> {
  if (typeof fn !== 'function') throw new TypeError('elastic.run: fn must be an async function of the state');
  const job = elasticJob();
  let comm = getCommunicator('elastic.run');
  let previousSize = comm.size;
  let failedAt = 0;
  let pendingReset = job !== undefined && job.membership.current.generation > 0;
  // The ranks a failure named, for the next generation to leave out; null: no regroup pending.
  let regroupLosing: readonly number[] | null = null;
  for (;;) {
    try {
      // Everything after a failure is retried as a whole: a member lost while the next
      // generation connects or syncs only means one more regroup.
      if (regroupLosing !== null) {
        const lost = regroupLosing;
        comm = await regroup(comm, lost);
        regroupLosing = null;
        replaceWorld(comm);
        state.rebind(comm);
        state.restore();
        stats.resets++;
        pendingReset = true;
      }
      await state.sync(comm);
      if (pendingReset) {
        pendingReset = false;
        await state.fireReset({ generation: job?.membership.current.generation ?? 0, size: comm.size, previousSize, rank: comm.rank });
      }
      if (failedAt > 0) {
        const took = (performance.now() - failedAt) / 1000;
        stats.recoverySeconds.push(took);
        job?.log(`dtrain elastic: ${job.membership.id} resumed as rank ${comm.rank} of ${comm.size} in generation ${job.membership.current.generation} from its commit at epoch ${state.epoch}, batch ${state.batch}, ${took.toFixed(3)} s after the failure reached it (at ${new Date().toISOString()})`);
        failedAt = 0;
      }
      previousSize = comm.size;
      const result = await fn(state);
      // Workers still waiting to be admitted have nothing left to join.
      await job?.membership.markDone();
      return result;
    } catch (err) {
      if (!job || !(err instanceof DtrainError) || !RECOVERABLE.has(err.code) || (err as { final?: boolean }).final) throw err;
      failedAt ||= performance.now();
      job.log(`dtrain elastic: ${job.membership.id} (rank ${comm.rank} of ${comm.size}, generation ${job.membership.current.generation}): ${err.message}; regrouping`);
      // A collective that failed on a lost or stuck peer names it; a membership change, nobody.
      const named = err.code === 'ERR_DTRAIN_PEER_LOST' || err.code === 'ERR_DTRAIN_TIMEOUT' || err.code === 'ERR_DTRAIN_BROKEN' ? err.ranks : [];
      regroupLosing = named;
    }
  }
}
