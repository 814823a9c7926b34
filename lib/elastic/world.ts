/**
 * The communicator of an elastic job: created per generation of the membership, torn down in
 * process and re-created over the survivors (and joiners) when the membership changes.
 */
import { Communicator } from '../comm/communicator';
import type { ElasticSettings } from '../comm/config';
import type { NativeCommConfig } from '../native';
import { DtrainError } from '../common/errors';
import { BuiltinKV, type ElasticKV } from './kv';
import { Membership, type Generation } from './membership';

/** A generation's bootstrap may wait for a member that died meanwhile; then the next one forms. */
const GENERATION_BOOTSTRAP_SEC = 15;

interface ElasticJob {
  membership: Membership;
  config: NativeCommConfig;
  defaultAlgorithm: string;
  /** Recoveries so far (membership changes after the first generation). */
  resets: number;
  log: (line: string) => void;
}

let job: ElasticJob | undefined;

/** The elastic job this process is part of, or undefined when the job is not elastic. */
export function elasticJob(): ElasticJob | undefined {
  return job;
}

async function openKV(config: NativeCommConfig, settings: ElasticSettings): Promise<ElasticKV> {
  if (settings.store === undefined) return BuiltinKV.connect(config.store, config.token);
  // Loaded only for etcd jobs; the job id keeps jobs that share an etcd apart.
  const { EtcdKV } = await import('./etcd-kv');
  let reported = 0;
  const onError = (err: Error): void => {
    // Keepalives retry every second while etcd is down: one line per 10 s says so.
    if (Date.now() - reported < 10_000) return;
    reported = Date.now();
    const g = job?.membership.current.generation ?? -1;
    process.stderr.write(
      `dtrain elastic: ${settings.id}: ${err.message}; training continues in generation ${g}, but a membership change (a lost or new worker) needs etcd back\n`,
    );
  };
  return EtcdKV.connect(settings.store, { namespace: `dtrain/${config.jobId}/`, onError });
}

// Keeps the process alive while it waits on the store (the membership's connection does not).
async function holding<T>(p: () => Promise<T>): Promise<T> {
  const keep = setInterval(() => {}, 1 << 30);
  try {
    return await p();
  } finally {
    clearInterval(keep);
  }
}

/**
 * Joins an elastic job (init() calls this when DTRAIN_ELASTIC_ID is set): registers this worker,
 * takes generation 0 from the launcher's ranks, or for a joiner waits to be admitted, and
 * connects to the generation's members.
 */
export function createElasticWorld(config: NativeCommConfig, defaultAlgorithm: string, settings: ElasticSettings): Promise<Communicator> {
  return holding(() => joinJob(config, defaultAlgorithm, settings));
}

async function joinJob(config: NativeCommConfig, defaultAlgorithm: string, settings: ElasticSettings): Promise<Communicator> {
  if (job) throw new DtrainError('elastic: this process already joined the job; call shutdown() first', 'ERR_DTRAIN_CONFIG');
  const log = (line: string) => void process.stderr.write(`${line}\n`);
  const kv = await openKV(config, settings);
  const membership = await Membership.open(kv, settings);
  job = { membership, config, defaultAlgorithm, resets: 0, log };
  try {
    const first = await (settings.joiner ? membership.next(log) : membership.initial(config.size));
    return await connect(first);
  } catch (err) {
    await closeElasticJob();
    throw err;
  }
}

// Connects to generation `g`'s members; a member lost during the bootstrap forms the next one.
async function connect(g: Generation): Promise<Communicator> {
  const j = job as ElasticJob;
  for (;;) {
    const rank = g.members.indexOf(j.membership.id);
    try {
      return await Communicator.create(
        {
          ...j.config,
          rank,
          size: g.members.length,
          generation: g.generation,
          prefix: `el/c${g.generation}/`,
          logName: `rank ${rank} (${j.membership.id}, generation ${g.generation})`,
          // The timeline's track is the worker's, whatever its rank in this generation.
          jobRank: Number(j.membership.id.slice(1)),
          bootstrapTimeoutSec: Math.min(j.config.bootstrapTimeoutSec, GENERATION_BOOTSTRAP_SEC),
        },
        j.defaultAlgorithm,
      );
    } catch (err) {
      if (!(err instanceof DtrainError) || err.code !== 'ERR_DTRAIN_BOOTSTRAP') throw err;
      j.log(`dtrain elastic: ${j.membership.id} could not connect generation ${g.generation} (${err.message}); forming the next one`);
      g = await j.membership.next(j.log);
    }
  }
}

/**
 * Leaves the current generation and joins the next: marks `lostRanks` (those a transport error
 * named) lost, closes `old` without waiting for lost peers, agrees on the next membership, and
 * connects to it.
 */
export function regroup(old: Communicator, lostRanks: readonly number[] = []): Promise<Communicator> {
  return holding(() => nextWorld(old, lostRanks));
}

async function nextWorld(old: Communicator, lostRanks: readonly number[]): Promise<Communicator> {
  const j = job;
  if (!j) throw new DtrainError('elastic: the job is not elastic (start it with dtrain run --elastic)', 'ERR_DTRAIN_CONFIG');
  await j.membership.reportLost(lostRanks);
  try {
    await old.shutdown();
  } catch {
    // A lost peer makes the goodbye barrier fail; the transport is closed all the same.
  }
  const g = await j.membership.next(j.log);
  j.resets++;
  return connect(g);
}

/** Leaves the membership (shutdown() calls it). */
export async function closeElasticJob(): Promise<void> {
  const j = job;
  job = undefined;
  if (j) await j.membership.close().catch(() => undefined);
}
