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

/**
 * How a rank starts: on this host as a child process, or, on `host` (a --hosts placement), with
 * the variables that say where it is, through the launcher command when the host is another
 * one (or a command was given).
 */
function startOn(options: JobOptions, env: NodeJS.ProcessEnv, args: string[], host: string | undefined): { command: string; args: string[]; env: NodeJS.ProcessEnv; remote: boolean } {
  if (host !== undefined) {
    // The launcher's name for the host decides which ranks share memory, and every host
    // publishes the chosen interface's address; across hosts auto picks tcp.
    env.DTRAIN_HOST = host;
    if (options.networkInterface !== undefined) env.DTRAIN_IFACE = options.networkInterface;
    if (options.transport === undefined && !transportChosenIn(env)) env.DTRAIN_TRANSPORT = 'auto';
    if (options.launcherCmd !== undefined || !isThisHost(host)) {
      const passed = Object.fromEntries(Object.entries(env).filter(([k, v]) => v !== undefined && (k.startsWith('DTRAIN_') || k === 'FASHION_MNIST_DIR'))) as Record<string, string>;
      const argv = remoteArgv(options.launcherCmd ?? SSH, host, passed, process.execPath, args);
      return { command: argv[0], args: argv.slice(1), env: options.baseEnv ?? process.env, remote: true };
    }
  }
  return { command: process.execPath, args, env, remote: false };
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
 * Runs the discovery script every few seconds and reports the slots of each host it lists
 * (lines `host:slots`, slots 1 when left out). A failing script is reported and retried.
 * Returns a function that stops it.
 */
function discover(script: string, onSlots: (slots: Map<string, number>) => void): () => void {
  let lastFailure = 0;
  const tick = (): void => {
    execFile(script, [], { timeout: 10_000 }, (err, stdout) => {
      if (err) {
        // Once per 30 s: a script that keeps failing must not flood the output.
        if (Date.now() - lastFailure > 30_000) process.stderr.write(`dtrain: host discovery script ${script} failed (${err.message.trim()}); keeping the current workers\n`);
        lastFailure = Date.now();
        return;
      }
      const slots = new Map<string, number>();
      for (const line of stdout.split('\n')) {
        const m = /^\s*([^\s:]+)(?::(\d+))?\s*$/.exec(line);
        if (m) slots.set(m[1], (slots.get(m[1]) ?? 0) + (m[2] === undefined ? 1 : Number(m[2])));
      }
      onSlots(slots);
    });
  };
  const timer = setInterval(tick, DISCOVERY_INTERVAL_MS);
  return () => clearInterval(timer);
}

/** Whether remote workers start through ssh, whose exit code stands for a remote worker's signal. */
function viaSsh(options: JobOptions): boolean {
  return /(^|\/)ssh$/.test((options.launcherCmd ?? SSH).trim().split(/\s+/)[0]);
}

/** This machine's names as a discovery script may write them. */
function isHere(host: string): boolean {
  return host === 'localhost' || host === '127.0.0.1' || host === hostname();
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
  /** A script printing `host:slots` lines: how many workers should run on this host (with --hosts: on each host listed). */
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
  // Workers, then servers, fill the hosts' slots in order.
  const placements = options.hosts ? placeRanks(options.hosts, options.size + (options.servers ?? 0)) : undefined;
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
      if (place) Object.assign(env, { DTRAIN_LOCAL_RANK: String(place.localRank), DTRAIN_LOCAL_SIZE: String(place.localSize) });
      if (options.elastic) Object.assign(env, elasticEnv(options.elastic, rank, false));
      const how = startOn(options, env, args, place?.host);
      return { rank, command: how.command, args: how.args, env: how.env, terminal: terminal && rank === 0 && !place, bind: how.remote ? undefined : bind, remote: how.remote && viaSsh(options) };
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
      const el = options.elastic;
      // Where each worker runs (ids w<k>), for replacements and the discovery script's counts.
      const hostOf = new Map<number, string | undefined>(specs.map((spec) => [spec.rank, placements?.[spec.rank]?.host]));
      let nextId = total;
      startedWorkers = () => nextId;
      const startOne = (why: string, host: string | undefined): void => {
        const id = nextId++;
        const env = workerEnv(options.baseEnv ?? process.env, { rank: 0, size: 1, store: store.address, token, jobId, transport: options.transport, timeoutSeconds: options.timeoutSeconds, groupSize: options.groupSize });
        for (const k of ['DTRAIN_RANK', 'DTRAIN_SIZE', 'DTRAIN_LOCAL_RANK', 'DTRAIN_LOCAL_SIZE']) delete env[k];
        Object.assign(env, elasticEnv(el, id, true));
        if (options.timeline !== undefined) env.DTRAIN_TIMELINE = options.timeline;
        const how = startOn(options, env, [options.script, ...options.args], host);
        if (group.add({ rank: id, command: how.command, args: how.args, env: how.env, remote: how.remote && viaSsh(options) })) {
          hostOf.set(id, host);
          process.stderr.write(`dtrain: started worker w${id}${host === undefined ? '' : ` on ${host}`} (${why}); it joins at the next commit\n`);
        }
      };
      // Replacements back off and are capped, so a worker that keeps dying cannot spin the job.
      const budget = 2 * el.maxNp;
      let respawned = 0;
      group = new WorkerGroup({ ...groupOptions, survivable: () => true, onSurvivedFailure: (rank, status, running) => {
        if (!el.respawn || status.signal === null || group.anyFinished || running >= el.maxNp) return;
        if (respawned >= budget) {
          if (respawned++ === budget) process.stderr.write(`dtrain: not replacing lost workers any more: --respawn started ${budget} (2 x --max-np) already\n`);
          return;
        }
        const delay = Math.min(250 * 2 ** respawned++, 8000);
        // On the lost worker's host: its slot is the one free (unless the discovery script
        // filled it meanwhile, or the job ended).
        const host = hostOf.get(rank);
        setTimeout(() => {
          if (group.running < el.maxNp && !group.anyFinished) startOne('replacing a lost one', host);
        }, delay).unref();
      } });
      let warned = false;
      if (el.discoveryScript) stopDiscovery = discover(el.discoveryScript, (slots) => {
        if (!options.hosts) {
          // Without --hosts every worker runs here: this host's slots set how many.
          let here = 0;
          for (const [host, n] of slots) {
            if (isHere(host)) here += n;
            else if (!warned) {
              warned = true;
              process.stderr.write(`dtrain: host discovery script lists ${host}; without --hosts this launcher starts workers on this host only, so other hosts are ignored\n`);
            }
          }
          for (let n = group.running; n < Math.min(here, el.maxNp) && !group.anyFinished; n++) startOne(`the discovery script reports ${here} slot(s) here`, undefined);
          return;
        }
        // With --hosts, on every host it lists, up to its slots (and --max-np in all). This
        // host, under any of its names, counts as its --hosts entry.
        const live = group.liveRanks();
        const own = options.hosts.find((h) => isThisHost(h.host))?.host ?? hostname();
        const merged = new Map<string, number>();
        for (const [host, n] of slots) {
          const name = isHere(host) ? own : host;
          merged.set(name, (merged.get(name) ?? 0) + n);
        }
        for (const [host, n] of merged) {
          let there = live.filter((id) => hostOf.get(id) === host).length;
          for (; there < n && group.running < el.maxNp && !group.anyFinished; there++) startOne(`the discovery script reports ${n} slot(s) on ${host}`, host);
        }
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
