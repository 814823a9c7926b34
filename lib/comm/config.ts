/**
 * The one place that reads dtrain's environment. Every variable is in {@link ENVIRONMENT} (the
 * README's "Environment variables" table is checked against it by test/55.config.test.js), is read
 * here and nowhere else, and reaches the native code only as configuration passed down
 * (NativeCommConfig, the kernels' forced ISA). Options given in code take precedence.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { homedir, hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { checkOptions } from '../common/args';
import { configError, DtrainError } from '../common/errors';
import { parseSeconds } from '../common/seconds';
import { loadBinding, type CostModel, type NativeCommConfig } from '../native';
import type { InitOptions } from './types';

/** One environment variable: its README row's default and meaning, and who reads it. */
export interface EnvVariable {
  name: string;
  /** The README's "default" column. */
  default: string;
  /** The README's "meaning" column, in short. */
  meaning: string;
  /** `worker`: read by init() in every worker; `launcher`: by `dtrain run`; `loader`: when the addon loads; `cli`: by a command. */
  readBy: 'worker' | 'launcher' | 'loader' | 'cli';
}

/** Every DTRAIN_* variable dtrain reads, in the README's order. */
export const ENVIRONMENT: readonly EnvVariable[] = [
  { name: 'DTRAIN_RANK', default: 'set by the launcher', meaning: "this worker's rank; unset = a job of one", readBy: 'worker' },
  { name: 'DTRAIN_SIZE', default: 'set by the launcher', meaning: 'the number of workers', readBy: 'worker' },
  { name: 'DTRAIN_LOCAL_RANK', default: 'set by the launcher', meaning: 'place on this host, for scripts; dtrain.cuda takes device DTRAIN_LOCAL_RANK % deviceCount() by default', readBy: 'worker' },
  { name: 'DTRAIN_LOCAL_SIZE', default: 'set by the launcher', meaning: 'exported as k before dtrain run: groups of k ranks act as hosts', readBy: 'launcher' },
  { name: 'DTRAIN_GROUP_SIZE', default: 'unset', meaning: 'groups of k consecutive ranks act as hosts (the launcher sets it from DTRAIN_LOCAL_SIZE)', readBy: 'worker' },
  { name: 'DTRAIN_STORE', default: 'set by the launcher', meaning: 'host:port of the rendezvous store', readBy: 'worker' },
  { name: 'DTRAIN_TOKEN', default: 'set by the launcher', meaning: 'the per-job secret', readBy: 'worker' },
  { name: 'DTRAIN_JOB_ID', default: 'set by the launcher', meaning: "names this job's shared-memory segments", readBy: 'worker' },
  { name: 'DTRAIN_TRANSPORT', default: '`shm`', meaning: 'auto, shm, tcp or mpi', readBy: 'worker' },
  { name: 'DTRAIN_TIMEOUT', default: '`30`', meaning: 'seconds before a collective fails', readBy: 'worker' },
  {
    name: 'DTRAIN_STALL_WARN',
    default: '`60`',
    meaning: "seconds a collective may wait before every waiting rank logs a line naming the ranks not in it, repeated at that interval until it completes or times out; `0` never (a timeout shorter than it comes first)",
    readBy: 'worker',
  },
  { name: 'DTRAIN_INIT_TIMEOUT', default: '`60`', meaning: 'seconds init() waits for every worker', readBy: 'worker' },
  { name: 'DTRAIN_ALLREDUCE_ALGO', default: '`auto`', meaning: 'default all-reduce algorithm', readBy: 'worker' },
  { name: 'DTRAIN_ALPHA', default: 'calibrated or built in', meaning: "auto's seconds per message", readBy: 'worker' },
  { name: 'DTRAIN_BETA', default: 'calibrated or built in', meaning: "auto's seconds per byte sent", readBy: 'worker' },
  { name: 'DTRAIN_GAMMA', default: 'calibrated or built in', meaning: "auto's seconds per byte reduced", readBy: 'worker' },
  { name: 'DTRAIN_CALIBRATION', default: '`~/.dtrain/calibration.json`', meaning: 'the calibration file', readBy: 'worker' },
  { name: 'DTRAIN_TCP_ADDR', default: '`127.0.0.1`', meaning: 'numeric IPv4 or IPv6 address the TCP transport listens on', readBy: 'worker' },
  { name: 'DTRAIN_IFACE', default: 'unset', meaning: 'network interface whose address the TCP transport (and the launcher\'s store) use, on each host (`--network-interface`)', readBy: 'worker' },
  { name: 'DTRAIN_HOST', default: 'set by the launcher', meaning: "this worker's host as `dtrain run --hosts` names it; ranks with the same one share memory", readBy: 'worker' },
  { name: 'DTRAIN_SHM_CHANNEL_BYTES', default: '`1048576`', meaning: 'size of each shared-memory ring', readBy: 'worker' },
  { name: 'DTRAIN_SHM_SPIN', default: 'adaptive', meaning: 'polls before a waiting rank sleeps', readBy: 'worker' },
  { name: 'DTRAIN_GRACE', default: '`5`', meaning: 'launcher: seconds survivors get after a failure', readBy: 'launcher' },
  { name: 'DTRAIN_BIND_TO', default: '`auto`', meaning: 'launcher: bind each worker to a CPU (core, none, auto)', readBy: 'launcher' },
  { name: 'DTRAIN_DEBUG', default: 'unset', meaning: 'INFO: log bootstrap and each call\'s algorithm to stderr; DETAIL: also each call\'s descriptor', readBy: 'worker' },
  { name: 'DTRAIN_TEST_NO_PEER_MAPS', default: 'unset', meaning: "tests only: `1` makes this rank fail to map its peers' shared arrays", readBy: 'worker' },
  { name: 'DTRAIN_TEST_STALL_MS', default: 'unset', meaning: 'tests only: stall before every all-reduce', readBy: 'worker' },
  { name: 'DTRAIN_FUSION_THRESHOLD', default: '`1048576`', meaning: "bytes of gradients per fused all-reduce (the DistributedOptimizer's default fusionThreshold)", readBy: 'worker' },
  { name: 'DTRAIN_EAGER_BYTES', default: '`16384`', meaning: "auto sends an all-reduce whose bytes times (ranks - 1) are at most this with its descriptor, in one message to each peer (algorithm direct); 0 never; at most 65536 a message", readBy: 'worker' },
  { name: 'DTRAIN_INLINE_BYTES', default: '`65536`; unlimited in a worker bound to one CPU', meaning: 'async calls up to this size run on the JS thread when the engine is idle', readBy: 'worker' },
  { name: 'DTRAIN_TIMELINE', default: 'unset', meaning: "write a Chrome-trace / Perfetto timeline of the collectives' phases (and the Trainer's) there", readBy: 'worker' },
  { name: 'DTRAIN_TIMELINE_MAX_MB', default: '`256`', meaning: 'size at which a rank\'s timeline file rotates (the previous part kept as FILE.1)', readBy: 'worker' },
  { name: 'DTRAIN_SERVERS', default: 'set by the launcher', meaning: 'how many of the ranks are parameter servers (`dtrain run --servers K`); the last K', readBy: 'worker' },
  { name: 'DTRAIN_WORKER_CPUS', default: 'set by the launcher', meaning: 'how many CPUs the launcher bound this worker to', readBy: 'worker' },
  { name: 'DTRAIN_TTY_FD', default: 'set by the launcher', meaning: "rank 0's descriptor of the launcher's terminal, for the Trainer's progress bar", readBy: 'worker' },
  { name: 'DTRAIN_ELASTIC_ID', default: 'set by `dtrain run --elastic`', meaning: "this worker's name in an elastic job (`w<k>`, k in start order); set, it makes the job elastic", readBy: 'worker' },
  { name: 'DTRAIN_ELASTIC_JOIN', default: 'set by the launcher', meaning: '`1` for a worker started to replace or add one: it joins the running job at its next commit', readBy: 'worker' },
  { name: 'DTRAIN_MIN_NP', default: 'set by the launcher', meaning: 'an elastic job keeps training while at least this many workers live', readBy: 'worker' },
  { name: 'DTRAIN_MAX_NP', default: 'set by the launcher', meaning: 'the most workers an elastic generation takes', readBy: 'worker' },
  { name: 'DTRAIN_ELASTIC_TIMEOUT', default: '`600`', meaning: 'seconds an elastic job waits, below the minimum, for workers to come back', readBy: 'worker' },
  { name: 'DTRAIN_ELASTIC_STORE', default: "the launcher's store", meaning: 'membership store of an elastic job: `etcd://host:port,...` (Raft-replicated) or unset for the launcher\'s store', readBy: 'worker' },
  { name: 'DTRAIN_TEST_ELASTIC_DIE_IN_SYNC', default: 'unset', meaning: 'tests only: the elastic worker with this id kills itself while receiving the state', readBy: 'worker' },
  { name: 'DTRAIN_ISA', default: 'the best the CPU has', meaning: "force the CPU kernels' SIMD level", readBy: 'loader' },
  { name: 'DTRAIN_PREBUILD', default: 'unset', meaning: 'a folder to load the addon from (read by node-gyp-build)', readBy: 'loader' },
];

type Env = NodeJS.ProcessEnv;

function raw(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

function intFromEnv(env: Env, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const r = raw(env, name);
  if (r === undefined) return undefined;
  const v = Number(r);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw configError(
      max === Number.MAX_SAFE_INTEGER
        ? `${name} must be an integer >= ${min}, got '${r}'`
        : `${name} must be an integer from ${min} to ${max}, got '${r}'`,
    );
  }
  return v;
}

function stallWarnFromEnv(env: Env): number {
  const r = raw(env, 'DTRAIN_STALL_WARN');
  if (r === undefined) return 60;
  const v = Number(r);
  if (!Number.isFinite(v) || v < 0) throw configError(`DTRAIN_STALL_WARN must be a number of seconds >= 0 (0: never), got '${r}'`);
  return v;
}

function secondsFromEnv(env: Env, name: string, dflt: number): number {
  const r = raw(env, name);
  if (r === undefined) return dflt;
  const v = Number(r);
  if (!Number.isFinite(v) || v <= 0) {
    throw configError(`${name} must be a positive number of seconds, got '${r}'`);
  }
  return v;
}

function nonNegativeFromEnv(env: Env, name: string): number | undefined {
  const r = raw(env, name);
  if (r === undefined) return undefined;
  const v = Number(r);
  if (!Number.isFinite(v) || v < 0) throw configError(`${name} must be a number >= 0, got '${r}'`);
  return v;
}

/** DTRAIN_BIND_TO (`auto`, `core` or `none`), or undefined when unset. */
export function bindToFromEnv(env: Env = process.env): 'auto' | 'core' | 'none' | undefined {
  const v = raw(env, 'DTRAIN_BIND_TO');
  if (v === undefined) return undefined;
  if (v !== 'auto' && v !== 'core' && v !== 'none') throw configError(`DTRAIN_BIND_TO must be auto, core or none, got '${v}'`);
  return v;
}

/** DTRAIN_FUSION_THRESHOLD in bytes, or undefined when unset. */
export function fusionThresholdFromEnv(env: Env = process.env): number | undefined {
  return intFromEnv(env, 'DTRAIN_FUSION_THRESHOLD', 0);
}

/**
 * Where this rank writes its timeline (init's `timeline`, else DTRAIN_TIMELINE): the file itself
 * in a job of one, FILE.rank<r> under a launcher (which merges the parts); and the size cap
 * (DTRAIN_TIMELINE_MAX_MB, default 256) after which the file rotates.
 */
function timelineFromEnv(option: string | undefined, env: Env, rank: number, launched: boolean): { timelineFile?: string; timelineMaxBytes?: number; timelineMerged?: boolean } {
  const file = option ?? raw(env, 'DTRAIN_TIMELINE');
  if (file === undefined) return {};
  const mb = intFromEnv(env, 'DTRAIN_TIMELINE_MAX_MB', 1) ?? 256;
  return { timelineFile: launched ? `${file}.rank${rank}` : file, timelineMaxBytes: mb * 2 ** 20, timelineMerged: launched };
}

/** DTRAIN_TIMELINE as the launcher reads it (it merges the ranks' parts there), or undefined. */
export function timelineFromLauncherEnv(env: Env = process.env): string | undefined {
  return raw(env, 'DTRAIN_TIMELINE');
}

/** DTRAIN_SERVERS: how many of the job's ranks are parameter servers (0: none). */
export function serversFromEnv(env: Env = process.env): number {
  return intFromEnv(env, 'DTRAIN_SERVERS', 0) ?? 0;
}

/**
 * This worker's place on its host as its launcher says it (DTRAIN_LOCAL_RANK, or mpirun's
 * OMPI_COMM_WORLD_LOCAL_RANK / MPI_LOCALRANKID), or undefined outside a job: dtrain.cuda's
 * default device.
 */
export function localRankFromEnv(env: Env = process.env): number | undefined {
  for (const name of ['DTRAIN_LOCAL_RANK', 'OMPI_COMM_WORLD_LOCAL_RANK', 'MPI_LOCALRANKID']) {
    const v = env[name];
    if (v !== undefined && /^\d+$/.test(v)) return Number(v);
  }
  return undefined;
}

/** DTRAIN_WORKER_CPUS: the CPUs the launcher bound this worker to, or undefined (not bound). */
export function workerCpusFromEnv(env: Env = process.env): number | undefined {
  return intFromEnv(env, 'DTRAIN_WORKER_CPUS', 1);
}

/** DTRAIN_TTY_FD: the launcher's terminal handed to rank 0, or undefined. */
export function ttyFdFromEnv(env: Env = process.env): number | undefined {
  return intFromEnv(env, 'DTRAIN_TTY_FD', 3);
}

/** FASHION_MNIST_DIR (the data set's own convention, not a DTRAIN_ variable), or undefined. */
export function fashionMnistDirFromEnv(env: Env = process.env): string | undefined {
  return raw(env, 'FASHION_MNIST_DIR');
}

/** An elastic worker's settings, from the launcher's environment. */
export interface ElasticSettings {
  id: string;
  /** Started to replace or add a worker: it has no rank until it is admitted. */
  joiner: boolean;
  minNp: number;
  maxNp: number;
  timeoutSec: number;
  /** `etcd://...`, or undefined for the launcher's store. */
  store: string | undefined;
}

/** DTRAIN_ELASTIC_ID and the rest, or undefined when the job is not elastic. */
export function elasticFromEnv(env: Env = process.env): ElasticSettings | undefined {
  const id = raw(env, 'DTRAIN_ELASTIC_ID');
  if (id === undefined) return undefined;
  if (!/^w\d+$/.test(id)) throw configError(`DTRAIN_ELASTIC_ID must be w<k> (set by dtrain run --elastic), got '${id}'`);
  const minNp = intFromEnv(env, 'DTRAIN_MIN_NP', 1) ?? 1;
  const maxNp = intFromEnv(env, 'DTRAIN_MAX_NP', 1) ?? Number.MAX_SAFE_INTEGER;
  if (minNp > maxNp) throw configError(`DTRAIN_MIN_NP (${minNp}) must not exceed DTRAIN_MAX_NP (${maxNp})`);
  const store = raw(env, 'DTRAIN_ELASTIC_STORE');
  if (store !== undefined && !store.startsWith('etcd://')) throw configError(`DTRAIN_ELASTIC_STORE must be etcd://host:port[,host:port...], got '${store}'`);
  return { id, joiner: raw(env, 'DTRAIN_ELASTIC_JOIN') === '1', minNp, maxNp, timeoutSec: secondsFromEnv(env, 'DTRAIN_ELASTIC_TIMEOUT', 600), store };
}

/** DTRAIN_TEST_ELASTIC_DIE_IN_SYNC: the elastic id that dies in its first sync (tests only). */
export function testDieInSyncFromEnv(env: Env = process.env): string | undefined {
  return raw(env, 'DTRAIN_TEST_ELASTIC_DIE_IN_SYNC');
}

/**
 * Which launcher's variables say this process was started by mpirun (Open MPI's
 * OMPI_COMM_WORLD_*, PMIx's PMIX_RANK, MPICH/Hydra's PMI_*), or undefined. A `dtrain run` job
 * (DTRAIN_RANK) never counts, whatever else is set.
 */
export function mpiLauncherFromEnv(env: Env = process.env): string | undefined {
  if (raw(env, 'DTRAIN_RANK') !== undefined) return undefined;
  for (const name of ['OMPI_COMM_WORLD_SIZE', 'PMIX_RANK', 'PMI_SIZE', 'PMI_RANK']) {
    const v = env[name];
    if (v !== undefined && v !== '') return `${name}=${v}`;
  }
  return undefined;
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

/** The transports a job may name: `auto` and every registered one. */
export function transportNames(): string[] {
  return ['auto', ...loadBinding().registry.transports.map((t) => t.name)];
}

/**
 * Checks a transport name (from code or DTRAIN_TRANSPORT); `what` names it in the error, which
 * is ERR_DTRAIN_CONFIG when `what` is a variable.
 */
export function checkTransport(name: unknown, what: string): string {
  const known = transportNames();
  if (typeof name !== 'string' || !known.includes(name)) {
    const list = known.map((n) => `'${n}'`);
    const message = `${what} must be ${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}, got '${String(name)}'`;
    throw what.startsWith('DTRAIN_') ? configError(message) : new RangeError(message);
  }
  return name;
}

/** Where `dtrain bench allreduce --calibrate` writes and `auto` reads the measured models. */
export function calibrationFile(env: Env = process.env): string {
  return raw(env, 'DTRAIN_CALIBRATION') ?? join(env.HOME || homedir(), '.dtrain', 'calibration.json');
}

/** The calibration file's entries by transport; {} when there is none (never calibrated). */
function readCalibration(file: string): Record<string, Partial<CostModel>> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  try {
    const all = JSON.parse(text) as unknown;
    return all !== null && typeof all === 'object' ? (all as Record<string, Partial<CostModel>>) : {};
  } catch (err) {
    throw configError(
      `the calibration file ${file} is not JSON (${(err as Error).message}); delete it or run \`dtrain bench allreduce --calibrate\` again`,
    );
  }
}

/**
 * `auto`'s cost model for a transport: the transport's default, then the calibration file's
 * entry for it, then DTRAIN_ALPHA, DTRAIN_BETA and DTRAIN_GAMMA.
 */
export function costModelFor(transport: string, env: Env = process.env): CostModel {
  const entry = loadBinding().registry.transports.find((t) => t.name === transport);
  const m: CostModel = { ...(entry?.defaultCostModel ?? { alpha: 5e-6, beta: 1e-10, gamma: 5e-11 }) };
  const calibrated = readCalibration(calibrationFile(env))[transport] ?? {};
  for (const k of ['alpha', 'beta', 'gamma'] as const) {
    const v = calibrated[k];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) m[k] = v;
  }
  m.alpha = nonNegativeFromEnv(env, 'DTRAIN_ALPHA') ?? m.alpha;
  m.beta = nonNegativeFromEnv(env, 'DTRAIN_BETA') ?? m.beta;
  m.gamma = nonNegativeFromEnv(env, 'DTRAIN_GAMMA') ?? m.gamma;
  return m;
}

/** DTRAIN_ALLREDUCE_ALGO, checked: the algorithm allreduce() uses when a call names none. */
export function defaultAllreduceAlgorithm(env: Env = process.env): string {
  const name = raw(env, 'DTRAIN_ALLREDUCE_ALGO') ?? 'auto';
  try {
    loadBinding().algorithmId(name);
  } catch (err) {
    throw configError(`DTRAIN_ALLREDUCE_ALGO: ${(err as Error).message}`);
  }
  return name;
}

/** DTRAIN_ISA: the kernels' SIMD level to force (checked when a kernel first runs), if set. */
export function isaFromEnv(env: Env = process.env): string | undefined {
  return raw(env, 'DTRAIN_ISA');
}

/**
 * The kernels' SIMD level, checked once a job starts: DTRAIN_ISA naming a level this CPU lacks
 * (or no level at all) fails init() on every rank alike, before any collective, with the
 * ERR_DTRAIN_CONFIG a kernel would give.
 */
function checkIsa(): void {
  const k = loadBinding().kernels.info();
  if (k.isa === null) throw configError(k.error ?? `DTRAIN_ISA=${String(k.forced)} cannot be used on this CPU`);
}

/**
 * DTRAIN_TCP_ADDR: the numeric IPv4 or IPv6 address the TCP transport listens on and gives its
 * peers (default 127.0.0.1; an IPv6 address with or without brackets, `::1` or `[::1]`).
 */
export function tcpAddrFromEnv(env: Env = process.env): string {
  const iface = raw(env, 'DTRAIN_IFACE');
  if (iface !== undefined && raw(env, 'DTRAIN_TCP_ADDR') === undefined) return interfaceAddress(iface, 'DTRAIN_IFACE');
  const v = raw(env, 'DTRAIN_TCP_ADDR') ?? '127.0.0.1';
  const bare = v.startsWith('[') && v.endsWith(']') ? v.slice(1, -1) : v;
  if (isIP(bare) === 0) {
    throw configError(`DTRAIN_TCP_ADDR must be a numeric IPv4 or IPv6 address (such as 10.0.0.5 or ::1), got '${v}'`);
  }
  return bare;
}

/**
 * The address of network interface `name` on this host (IPv4 first), for DTRAIN_IFACE and the
 * launcher's --network-interface; `what` names the setting in the error, which lists the
 * interfaces that exist.
 */
export function interfaceAddress(name: string, what: string): string {
  const all = networkInterfaces();
  const addrs = all[name];
  const pick = addrs?.find((a) => a.family === 'IPv4') ?? addrs?.find((a) => a.family === 'IPv6' && !a.address.startsWith('fe80'));
  if (!pick) {
    const exist = Object.entries(all).map(([n, as]) => `${n} (${(as ?? []).map((a) => a.address).join(', ')})`);
    throw configError(`${what}: this host (${hostname()}) has no network interface '${name}' with an address; it has ${exist.join(', ')}`);
  }
  return pick.address;
}

/** Whether DTRAIN_TRANSPORT is set in `env` (the launcher leaves a user's choice alone). */
export function transportChosenIn(env: Env = process.env): boolean {
  return raw(env, 'DTRAIN_TRANSPORT') !== undefined;
}

/** The k of DTRAIN_ELASTIC_ID=w<k>, or undefined outside an elastic job. */
function elasticPart(env: Env): number | undefined {
  const id = raw(env, 'DTRAIN_ELASTIC_ID');
  return id !== undefined && /^w\d+$/.test(id) ? Number(id.slice(1)) : undefined;
}

/** DTRAIN_HOST: the launcher's name for this worker's host, or undefined. */
export function hostNameFromEnv(env: Env = process.env): string | undefined {
  return raw(env, 'DTRAIN_HOST');
}

/** DTRAIN_GRACE: seconds the launcher gives survivors after a failure, or undefined if unset. */
export function graceFromEnv(env: Env = process.env): number | undefined {
  const r = raw(env, 'DTRAIN_GRACE');
  if (r === undefined) return undefined;
  const seconds = parseSeconds(r);
  if (seconds === null) throw configError(`DTRAIN_GRACE must be a number of seconds, got ${JSON.stringify(r)}`);
  return seconds;
}

/** DTRAIN_LOCAL_SIZE as the user exported it to the launcher: groups of that many ranks act as hosts. */
export function localSizeFromEnv(env: Env = process.env): number | undefined {
  return intFromEnv(env, 'DTRAIN_LOCAL_SIZE', 1);
}

/** DTRAIN_DEBUG (like NCCL_DEBUG): 0 unset, 1 INFO, 2 DETAIL. */
export function debugFromEnv(env: Env = process.env): number {
  const r = raw(env, 'DTRAIN_DEBUG');
  if (r === undefined) return 0;
  const level = ['INFO', 'DETAIL'].indexOf(r.toUpperCase());
  if (level < 0) throw new RangeError(`DTRAIN_DEBUG must be INFO or DETAIL, got '${r}'`);
  return level + 1;
}

/** What the launcher's environment says about this worker, before init() options apply. */
export interface WorkerSetup {
  config: NativeCommConfig;
  /** DTRAIN_ALLREDUCE_ALGO, checked. */
  defaultAlgorithm: string;
}

/**
 * Builds the native configuration; throws a RangeError naming the bad variable (code
 * ERR_DTRAIN_CONFIG) or option.
 */
export function configFromEnv(options: InitOptions, generation: number, env: Env = process.env): WorkerSetup {
  checkOptions(options, ['transport', 'timeout', 'initTimeout', 'timeline'], 'init');
  if (options.timeline !== undefined && (typeof options.timeline !== 'string' || options.timeline === '')) {
    throw new TypeError('init: timeline must be a file name (string)');
  }
  checkIsa();
  const rank = intFromEnv(env, 'DTRAIN_RANK', 0);
  const size = intFromEnv(env, 'DTRAIN_SIZE', 1);
  if ((rank === undefined) !== (size === undefined)) {
    throw configError('DTRAIN_RANK and DTRAIN_SIZE must be set together (dtrain run sets both)');
  }
  if (rank === undefined && mpiLauncherFromEnv(env) !== undefined) {
    // init() bootstraps through MPI first and passes its rank and store in; only a direct caller gets here.
    throw new DtrainError('dtrain: this process was started by mpirun; call init(), which joins through MPI', 'ERR_DTRAIN_BOOTSTRAP');
  }
  const r = rank ?? 0;
  const s = size ?? 1;
  if (r >= s) throw configError(`DTRAIN_RANK (${r}) must be below DTRAIN_SIZE (${s})`);
  const store = env.DTRAIN_STORE ?? '';
  const token = env.DTRAIN_TOKEN ?? '';
  if (s > 1 && (!store || !token)) {
    throw new DtrainError(
      'dtrain: DTRAIN_STORE and DTRAIN_TOKEN are not set, so this worker cannot find its peers; ' +
        'start workers with `dtrain run -np N script.js`',
      'ERR_DTRAIN_BOOTSTRAP',
    );
  }
  const transport =
    options.transport !== undefined
      ? checkTransport(options.transport, 'transport')
      : checkTransport(raw(env, 'DTRAIN_TRANSPORT') ?? 'shm', 'DTRAIN_TRANSPORT');
  const costModels: Record<string, CostModel> = {};
  for (const t of loadBinding().registry.transports) costModels[t.name] = costModelFor(t.name, env);
  return {
    config: {
      rank: r,
      size: s,
      store,
      token,
      jobId: env.DTRAIN_JOB_ID ?? `pid${process.pid}`,
      transport,
      tcpAddr: tcpAddrFromEnv(env),
      shmChannelBytes: intFromEnv(env, 'DTRAIN_SHM_CHANNEL_BYTES', 4096) ?? 1 << 20,
      shmSpin: intFromEnv(env, 'DTRAIN_SHM_SPIN', 0, 10_000_000) ?? -1,
      // Without one, ranks are grouped by host name (DTRAIN_LOCAL_SIZE only describes the host).
      localSizeOverride: intFromEnv(env, 'DTRAIN_GROUP_SIZE', 1) ?? 0,
      hostName: raw(env, 'DTRAIN_HOST') ?? '',
      timeoutSec:
        options.timeout !== undefined
          ? checkSeconds(options.timeout, 'timeout')
          : secondsFromEnv(env, 'DTRAIN_TIMEOUT', 30),
      bootstrapTimeoutSec:
        options.initTimeout !== undefined
          ? checkSeconds(options.initTimeout, 'initTimeout')
          : secondsFromEnv(env, 'DTRAIN_INIT_TIMEOUT', 60),
      generation,
      prefix: `c${generation}/`,
      debug: debugFromEnv(env),
      stallWarnSec: stallWarnFromEnv(env),
      // A worker bound to one CPU has no second core for the engine thread to overlap on, so
      // any call may run inline there (docs/performance.md).
      inlineBytes: intFromEnv(env, 'DTRAIN_INLINE_BYTES', 0) ?? (workerCpusFromEnv(env) === 1 ? Number.MAX_SAFE_INTEGER : 64 << 10),
      eagerBytes: intFromEnv(env, 'DTRAIN_EAGER_BYTES', 0) ?? 16 << 10,
      // An elastic worker's part is named by its id (w<k>: part k), since ranks change and a
      // worker that joins has none yet.
      ...timelineFromEnv(options.timeline, env, elasticPart(env) ?? r, rank !== undefined || elasticPart(env) !== undefined),
      logName: `rank ${r}`,
      costModels,
      testStallMs: intFromEnv(env, 'DTRAIN_TEST_STALL_MS', 0) ?? 0,
      testNoPeerMaps: raw(env, 'DTRAIN_TEST_NO_PEER_MAPS') === '1' ? 1 : 0,
    },
    defaultAlgorithm: defaultAllreduceAlgorithm(env),
  };
}
