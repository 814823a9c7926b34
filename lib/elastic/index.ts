/**
 * Elastic training (`dtrain.elastic`): a job that survives lost workers and admits new ones
 * without restarting, with membership agreed through the launcher's store or etcd. See
 * docs/elastic.md.
 */
export { State, type StateOptions, type ResetInfo, type StatefulOptimizer } from './state';
export { run, recoveryStats, type RecoveryStats } from './run';
export { BuiltinKV, type ElasticKV } from './kv';
import { elasticJob } from './world';

/** Whether this process is a worker of an elastic job (started by `dtrain run --elastic`). */
export function isElastic(): boolean {
  return elasticJob() !== undefined;
}

/**
 * This worker's elastic id (`w<k>`), its generation and its members in rank order, and the
 * job's size at the start (for scaling rates the same on a worker that joins later), or
 * undefined outside an elastic job.
 */
export function membership(): { id: string; generation: number; members: string[]; initialSize: number } | undefined {
  const j = elasticJob();
  return j
    ? { id: j.membership.id, generation: j.membership.current.generation, members: [...j.membership.current.members], initialSize: j.membership.initialSize }
    : undefined;
}
