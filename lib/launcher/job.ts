import { execFile } from 'node:child_process';
import { hostname, networkInterfaces } from 'node:os';
import { interfaceAddress, transportChosenIn } from '../comm/config';
import { isThisHost, placeRanks, remoteArgv, SSH, type HostSlots } from './hosts';
import { join } from 'node:path';
import { mergeTimeline, removeTimelineParts } from '../comm/timeline';
import { StoreServer } from '../store/server';
import { newJobId, newToken } from './identity';
import { WorkerGroup, type WorkerGroupOptions } from './worker-group';
import { workerEnv } from './worker-env';

/** The parameter server's entry point, run on server ranks. */
const SERVER_MAIN = join(__dirname, '..', 'ps', 'server-main.js');

/**
 * Where the store listens: loopback for a job on this host; with --hosts, the address of
 * --network-interface here, or this host's first non-loopback IPv4 address.
 */
function storeHost(options: JobOptions): string {
  if (!options.hosts) return '127.0.0.1';
  if (options.networkInterface !== undefined) return interfaceAddress(options.networkInterface, '--network-interface');
  if (options.launcherCmd === undefined && options.hosts.every((h) => isThisHost(h.host))) return '127.0.0.1';
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('this host has no non-loopback IPv4 address for the other hosts to reach the store; give --network-interface');
}

/** The variables that make a worker part of an elastic job (its id is `w<id>`). */
function elasticEnv(el: ElasticLaunch, id: number, joiner: boolean): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    DTRAIN_ELASTIC_ID: `w${id}`,
    DTRAIN_MIN_NP: String(el.minNp),
    DTRAIN_MAX_NP: String(el.maxNp),
    DTRAIN_ELASTIC_TIMEOUT: String(el.timeoutSec),
  };
  if (joiner) env.DTRAIN_ELASTIC_JOIN = '1';
  if (el.store !== undefined) env.DTRAIN_ELASTIC_STORE = el.store;
  return env;
}

/** How often the host discovery script runs (Horovod runs its own about every second). */
const DISCOVERY_INTERVAL_MS = 2000;

/**
 * Runs the discovery script every few seconds and reports this host's slots (lines
 * `host:slots`; this host is `localhost`, `127.0.0.1` or its name). A failing script is
 * reported and retried. Returns a function that stops it.
 */
function discover(script: string, onSlots: (slots: number) => void): () => void {
  const here = new Set(['localhost', '127.0.0.1', hostname()]);
  let warned = false;
  let lastFailure = 0;
  const tick = (): void => {
    execFile(script, [], { timeout: 10_000 }, (err, stdout) => {
      if (err) {
        // Once per 30 s: a script that keeps failing must not flood the output.
        if (Date.now() - lastFailure > 30_000) process.stderr.write(`dtrain: host discovery script ${script} failed (${err.message.trim()}); keeping the current workers\n`);
        lastFailure = Date.now();
        return;
      }
      let slots = 0;
      for (const line of stdout.split('\n')) {
        const m = /^\s*([^\s:]+)(?::(\d+))?\s*$/.exec(line);
        if (!m) continue;
        if (here.has(m[1])) slots += m[2] === undefined ? 1 : Number(m[2]);
        else if (!warned) {
          warned = true;
          process.stderr.write(`dtrain: host discovery script lists ${m[1]}; this launcher starts workers on this host only, so other hosts are ignored\n`);
        }
      }
      onSlots(slots);
    });
  };
  const timer = setInterval(tick, DISCOVERY_INTERVAL_MS);
  return () => clearInterval(timer);
}

/** One `dtrain run` invocation, already validated. */
export interface JobOptions {
  /** Number of workers. */
  size: number;
  /** Parameter servers started beside them (ranks size..size+servers-1); default 0. */
  servers?: number;
  /** DTRAIN_TIMELINE for every rank; the launcher merges their parts into this file at the end. */
  timeline?: string;
  /** Absolute path of the worker script. */
  script: string;
  /** Arguments for the script, passed through untouched. */
  args: readonly string[];
  /** `DTRAIN_TRANSPORT` to export, if the user chose one. */
  transport?: string;
  /** `DTRAIN_TIMEOUT` (seconds) to export, if the user chose one. */
  timeoutSeconds?: number;
  /** Groups of this many consecutive ranks act as hosts (the user's DTRAIN_LOCAL_SIZE). */
  groupSize?: number;
  /** After the first worker failure, seconds the others get to exit on their own. */
  graceSeconds: number;
  /** Environment the workers inherit; default `process.env`. */
  baseEnv?: NodeJS.ProcessEnv;
  /** The CPUs of each rank (from cpuPlan), or undefined to leave placement to the scheduler. */
  cpus?: number[][];
  /** taskset's path, when `cpus` is given. */
  taskset?: string;
  /** `--elastic`: the job survives lost workers and admits new ones (docs/elastic.md). */
  elastic?: ElasticLaunch;
  /** `--hosts` / `--hostfile`: the ranks fill these hosts in order. */
  hosts?: HostSlots[];
  /** How a worker starts on another host (`{host}` replaced); default ssh. */
  launcherCmd?: string;
  /** `--network-interface`: every host publishes this interface's address (DTRAIN_IFACE). */
  networkInterface?: string;
}

/** The elastic settings of `dtrain run --elastic`. */
export interface ElasticLaunch {
  minNp: number;
  maxNp: number;
  /** Start a replacement when a worker is killed (not when its script fails). */
  respawn: boolean;
  /** Seconds the workers wait below minNp. */
  timeoutSec: number;
  /** `etcd://...` membership store, or undefined for the launcher's. */
  store?: string;
  /** A script printing `host:slots` lines; this host's slots set how many workers should run. */
  discoveryScript?: string;
}

/**
 * Runs a job to completion: starts the rendezvous store, runs `size` copies of the script under
 * the current Node.js binary, and closes the store once every worker has exited.
 *
 * @returns the exit code the launcher should exit with (see {@link WorkerGroup.run})
 */
export async function runJob(options: JobOptions): Promise<number> {
  const token = newToken();
  const jobId = newJobId();
  const placements = options.hosts ? placeRanks(options.hosts, options.size) : undefined;
  const store = await StoreServer.start({ host: storeHost(options), port: 0, token });
  try {
    // Worker output reaches the terminal through line-prefixing pipes, where a progress bar
    // that redraws one line cannot work; rank 0 also gets the terminal itself as fd 3.
    const terminal = process.stdout.isTTY === true;
    const servers = options.servers ?? 0;
    const total = options.size + servers;
    if (options.timeline !== undefined) removeTimelineParts(options.timeline, total);
    const specs = Array.from({ length: total }, (_, rank) => {
      const server = rank >= options.size;
      const env = workerEnv(options.baseEnv ?? process.env, {
        rank,
        size: total,
        store: store.address,
        token,
        jobId,
        transport: options.transport,
        timeoutSeconds: options.timeoutSeconds,
        groupSize: options.groupSize,
      });
      if (servers > 0) env.DTRAIN_SERVERS = String(servers);
      if (options.timeline !== undefined) env.DTRAIN_TIMELINE = options.timeline;
      if (terminal && rank === 0) env.DTRAIN_TTY_FD = '3';
      const bind: [number[], string] | undefined = options.cpus && options.taskset ? [options.cpus[rank], options.taskset] : undefined;
      // Bound workers see only their own CPUs; say how many, for the DistributedOptimizer's choice.
      if (bind) env.DTRAIN_WORKER_CPUS = String(bind[0].length);
      const args = server ? [SERVER_MAIN] : [options.script, ...options.args];
      const place = placements?.[rank];
      if (place) {
        // The launcher's name for the host decides which ranks share memory, and every host
        // publishes the chosen interface's address; across hosts auto picks tcp.
        Object.assign(env, { DTRAIN_HOST: place.host, DTRAIN_LOCAL_RANK: String(place.localRank), DTRAIN_LOCAL_SIZE: String(place.localSize) });
        if (options.networkInterface !== undefined) env.DTRAIN_IFACE = options.networkInterface;
        if (options.transport === undefined && !transportChosenIn(env)) env.DTRAIN_TRANSPORT = 'auto';
        if (options.launcherCmd !== undefined || !isThisHost(place.host)) {
          const passed = Object.fromEntries(Object.entries(env).filter(([k, v]) => v !== undefined && (k.startsWith('DTRAIN_') || k === 'FASHION_MNIST_DIR'))) as Record<string, string>;
          const argv = remoteArgv(options.launcherCmd ?? SSH, place.host, passed, process.execPath, args);
          return { rank, command: argv[0], args: argv.slice(1), env: options.baseEnv ?? process.env };
        }
      }
      return { rank, command: process.execPath, args, env, terminal: terminal && rank === 0 && !place, bind };
    });
    const groupOptions: WorkerGroupOptions = {
      graceMs: options.graceSeconds * 1000,
      stdout: (data) => process.stdout.write(data),
      stderr: (data) => process.stderr.write(data),
      log: (line) => process.stderr.write(`${line}\n`),
      // The servers drop a lost worker and the others train on; a lost server ends the job.
      survivable: servers > 0 ? (rank: number) => rank < options.size : undefined,
    };
    let group = new WorkerGroup(groupOptions);
    let stopDiscovery = (): void => {};
    let startedWorkers = (): number => total;
    if (options.elastic) {
      for (const spec of specs) Object.assign(spec.env, elasticEnv(options.elastic, spec.rank, false));
      const el = options.elastic;
      let nextId = total;
      startedWorkers = () => nextId;
      const startOne = (why: string): void => {
        const id = nextId++;
        const env = workerEnv(options.baseEnv ?? process.env, { rank: 0, size: 1, store: store.address, token, jobId, transport: options.transport, timeoutSeconds: options.timeoutSeconds, groupSize: options.groupSize });
        for (const k of ['DTRAIN_RANK', 'DTRAIN_SIZE', 'DTRAIN_LOCAL_RANK', 'DTRAIN_LOCAL_SIZE']) delete env[k];
        Object.assign(env, elasticEnv(el, id, true));
        if (options.timeline !== undefined) env.DTRAIN_TIMELINE = options.timeline;
        if (group.add({ rank: id, command: process.execPath, args: [options.script, ...options.args], env })) {
          process.stderr.write(`dtrain: started worker w${id} (${why}); it joins at the next commit\n`);
        }
      };
      // Replacements back off and are capped, so a worker that keeps dying cannot spin the job.
      const budget = 2 * el.maxNp;
      let respawned = 0;
      group = new WorkerGroup({ ...groupOptions, survivable: () => true, onSurvivedFailure: (_rank, status, running) => {
        if (!el.respawn || status.signal === null || group.anyFinished || running >= el.maxNp) return;
        if (respawned >= budget) {
          if (respawned++ === budget) process.stderr.write(`dtrain: not replacing lost workers any more: --respawn started ${budget} (2 x --max-np) already\n`);
          return;
        }
        const delay = Math.min(250 * 2 ** respawned++, 8000);
        setTimeout(() => startOne('replacing a lost one'), delay).unref();
      } });
      if (el.discoveryScript) stopDiscovery = discover(el.discoveryScript, (slots) => {
        for (let n = group.running; n < Math.min(slots, el.maxNp) && !group.anyFinished; n++) startOne(`the discovery script reports ${slots} slot(s) here`);
      });
    }
    const code = await group.run(specs);
    stopDiscovery();
    if (options.timeline !== undefined) {
      try {
        // Elastic replacements wrote parts of their own (w<k>: part k).
        const merged = mergeTimeline(options.timeline, startedWorkers());
        process.stderr.write(`dtrain: timeline of ${merged.length} rank(s) written to ${options.timeline} (open it in ui.perfetto.dev)\n`);
      } catch (err) {
        // The parts stay where they are; the job's own exit code still stands.
        process.stderr.write(`dtrain: could not merge the timeline into ${options.timeline} (${(err as Error).message}); the parts ${options.timeline}.rank<r> are kept: run 'dtrain timeline ${options.timeline}'\n`);
      }
    }
    return code;
  } finally {
    await store.close();
  }
}
