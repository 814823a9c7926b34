import { StoreServer } from '../store/server';
import { newJobId, newToken } from './identity';
import { WorkerGroup } from './worker-group';
import { workerEnv } from './worker-env';

/** One `dtrain run` invocation, already validated. */
export interface JobOptions {
  /** Number of workers. */
  size: number;
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
    const specs = Array.from({ length: options.size }, (_, rank) => {
      const env = workerEnv(options.baseEnv ?? process.env, {
        rank,
        size: options.size,
        store: store.address,
        token,
        jobId,
        transport: options.transport,
        timeoutSeconds: options.timeoutSeconds,
        groupSize: options.groupSize,
      });
      if (terminal && rank === 0) env.DTRAIN_TTY_FD = '3';
      const bind: [number[], string] | undefined = options.cpus && options.taskset ? [options.cpus[rank], options.taskset] : undefined;
      // Bound workers see only their own CPUs; say how many, for the DistributedOptimizer's choice.
      if (bind) env.DTRAIN_WORKER_CPUS = String(bind[0].length);
      return { rank, command: process.execPath, args: [options.script, ...options.args], env, terminal: terminal && rank === 0, bind };
    });
    const group = new WorkerGroup({
      graceMs: options.graceSeconds * 1000,
      stdout: (data) => process.stdout.write(data),
      stderr: (data) => process.stderr.write(data),
      log: (line) => process.stderr.write(`${line}\n`),
    });
    return await group.run(specs);
  } finally {
    await store.close();
  }
}
