/**
 * Reads a worker's setup from the environment the launcher gives it (the table in README.md, "Environment variables"),
 * with the options passed to init() taking precedence.
 */
import type { NativeCommConfig } from '../native';
import type { InitOptions } from './types';

function intFromEnv(env: NodeJS.ProcessEnv, name: string, min: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) {
    throw new RangeError(`${name} must be an integer >= ${min}, got '${raw}'`);
  }
  return v;
}

function secondsFromEnv(env: NodeJS.ProcessEnv, name: string, dflt: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) {
    throw new RangeError(`${name} must be a positive number of seconds, got '${raw}'`);
  }
  return v;
}

/** Checks a timeout given in code; `what` names it in the error. */
export function checkSeconds(v: unknown, what: string): number {
  if (typeof v !== 'number') {
    throw new TypeError(`${what} must be a number of seconds, got ${typeof v}`);
  }
  if (!Number.isFinite(v) || v <= 0) {
    throw new RangeError(`${what} must be a positive number of seconds, got ${String(v)}`);
  }
  return v;
}

/** Builds the native configuration; throws a RangeError naming the bad variable or option. */
export function configFromEnv(
  options: InitOptions,
  generation: number,
  env: NodeJS.ProcessEnv = process.env,
): NativeCommConfig {
  const rank = intFromEnv(env, 'DTRAIN_RANK', 0);
  const size = intFromEnv(env, 'DTRAIN_SIZE', 1);
  if ((rank === undefined) !== (size === undefined)) {
    throw new RangeError('DTRAIN_RANK and DTRAIN_SIZE must be set together (dtrain run sets both)');
  }
  if (rank === undefined && (env.OMPI_COMM_WORLD_SIZE || env.PMI_SIZE)) {
    throw new Error(
      'dtrain: this process was started by mpirun, but the MPI bootstrap is not available in ' +
        'this version; start the job with `dtrain run -np N script.js` instead',
    );
  }
  const r = rank ?? 0;
  const s = size ?? 1;
  if (r >= s) throw new RangeError(`DTRAIN_RANK (${r}) must be below DTRAIN_SIZE (${s})`);
  const store = env.DTRAIN_STORE ?? '';
  const token = env.DTRAIN_TOKEN ?? '';
  if (s > 1 && (!store || !token)) {
    throw new Error(
      'dtrain: DTRAIN_STORE and DTRAIN_TOKEN are not set, so this worker cannot find its peers; ' +
        'start workers with `dtrain run -np N script.js`',
    );
  }
  const transport = options.transport ?? env.DTRAIN_TRANSPORT ?? 'shm';
  if (transport !== 'shm' && transport !== 'tcp') {
    throw new RangeError(`transport must be 'shm' or 'tcp', got '${transport}'`);
  }
  return {
    rank: r,
    size: s,
    store,
    token,
    jobId: env.DTRAIN_JOB_ID ?? `pid${process.pid}`,
    transport,
    tcpAddr: env.DTRAIN_TCP_ADDR ?? '127.0.0.1',
    shmChannelBytes: intFromEnv(env, 'DTRAIN_SHM_CHANNEL_BYTES', 4096) ?? 1 << 20,
    localSizeOverride: intFromEnv(env, 'DTRAIN_LOCAL_SIZE', 1) ?? 0,
    timeoutSec:
      options.timeout !== undefined
        ? checkSeconds(options.timeout, 'timeout')
        : secondsFromEnv(env, 'DTRAIN_TIMEOUT', 30),
    bootstrapTimeoutSec:
      options.initTimeout !== undefined
        ? checkSeconds(options.initTimeout, 'initTimeout')
        : secondsFromEnv(env, 'DTRAIN_INIT_TIMEOUT', 60),
    generation,
  };
}
