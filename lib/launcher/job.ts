import { join } from 'node:path';
import { mergeTimeline, removeTimelineParts } from '../comm/timeline';
import { StoreServer } from '../store/server';
import { newJobId, newToken } from './identity';
import { WorkerGroup } from './worker-group';
import { workerEnv } from './worker-env';

/** The parameter server's entry point, run on server ranks. */
const SERVER_MAIN = join(__dirname, '..', 'ps', 'server-main.js');

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
  const store = await StoreServer.start({ host: '127.0.0.1', port: 0, token });
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
      return { rank, command: process.execPath, args, env, terminal: terminal && rank === 0, bind };
    });
    const group = new WorkerGroup({
      graceMs: options.graceSeconds * 1000,
      stdout: (data) => process.stdout.write(data),
      stderr: (data) => process.stderr.write(data),
      log: (line) => process.stderr.write(`${line}\n`),
      // The servers drop a lost worker and the others train on; a lost server ends the job.
      survivable: servers > 0 ? (rank) => rank < options.size : undefined,
    });
    const code = await group.run(specs);
    if (options.timeline !== undefined) {
      try {
        const merged = mergeTimeline(options.timeline, total);
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
