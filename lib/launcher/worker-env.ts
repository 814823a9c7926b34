/** The per-worker values the launcher adds to the inherited environment (the table in README.md, "Environment variables"). */
export interface WorkerEnvOptions {
  rank: number;
  size: number;
  /** `host:port` of the rendezvous store. */
  store: string;
  token: string;
  jobId: string;
  /** Only exported when given, so a value the user already exported is inherited untouched. */
  transport?: string;
  /** Seconds; only exported when given, for the same reason. */
  timeoutSeconds?: number;
  /** The user's DTRAIN_LOCAL_SIZE: groups of this many consecutive ranks act as hosts. */
  groupSize?: number;
}

/**
 * Builds a worker's environment: everything in `base` plus the `DTRAIN_*` variables for its rank.
 * All workers run on this host, so the local rank and size equal the global ones, unless the
 * user exported DTRAIN_LOCAL_SIZE to pretend that consecutive groups of ranks are hosts (for
 * testing hierarchical algorithms on one machine): then those describe the pretend hosts, and
 * DTRAIN_GROUP_SIZE tells the workers to group themselves so instead of by host name.
 */
export function workerEnv(base: NodeJS.ProcessEnv, options: WorkerEnvOptions): NodeJS.ProcessEnv {
  const localSize = options.groupSize ?? options.size;
  const env: NodeJS.ProcessEnv = {
    ...base,
    DTRAIN_RANK: String(options.rank),
    DTRAIN_SIZE: String(options.size),
    DTRAIN_LOCAL_RANK: String(options.rank % localSize),
    DTRAIN_LOCAL_SIZE: String(localSize),
    DTRAIN_STORE: options.store,
    DTRAIN_TOKEN: options.token,
    DTRAIN_JOB_ID: options.jobId,
  };
  if (options.groupSize !== undefined) env.DTRAIN_GROUP_SIZE = String(options.groupSize);
  if (options.transport !== undefined) env.DTRAIN_TRANSPORT = options.transport;
  if (options.timeoutSeconds !== undefined) env.DTRAIN_TIMEOUT = String(options.timeoutSeconds);
  return env;
}
