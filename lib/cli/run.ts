import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { bindToFromEnv, graceFromEnv, localSizeFromEnv, timelineFromLauncherEnv } from '../comm/config';
import { cpuPlan, findTaskset, type BindTo } from '../launcher/cpu-affinity';
import { runJob } from '../launcher/job';
import { nonNegativeSeconds, positiveInteger, positiveSeconds, transportName, UsageError } from './values';

/** Grace period after a worker failure when neither --grace nor DTRAIN_GRACE is given. */
const DEFAULT_GRACE_SECONDS = 5;

interface RunOptions {
  np: number;
  servers?: number;
  timeline?: string;
  transport?: string;
  timeout?: number;
  grace?: number;
  bindTo?: BindTo;
}

/**
 * Adds `dtrain run -np N [options] script.js [args...]`: runs N workers of a script on this host.
 * Exit code: 0 when every worker exits 0, the first failing worker's code (128 + signal number
 * if it was killed), 130/143 when the launcher is interrupted, 2 for usage errors.
 */
export function addRunCommand(program: Command): void {
  program
    .command('run')
    .description('run N workers of a Node.js script on this host, connected as one job')
    .usage('-np <N> [options] <script> [args...]')
    .requiredOption(
      '-n, --np <N>',
      'number of workers (mpirun-style -np N also works)',
      positiveInteger,
    )
    .option(
      '--servers <K>',
      'also start K parameter servers (ranks N..N+K-1) for dtrain.ps; a lost worker then does not stop the job',
      positiveInteger,
    )
    .option(
      '--timeline <file>',
      'exported as DTRAIN_TIMELINE: every rank records a Chrome-trace timeline, merged into FILE at the end (open it in ui.perfetto.dev)',
    )
    .option('--transport <kind>', 'exported as DTRAIN_TRANSPORT: auto, shm, tcp (dtrain info lists them)', transportName)
    .option(
      '--timeout <seconds>',
      'exported as DTRAIN_TIMEOUT: seconds before a collective gives up',
      positiveSeconds,
    )
    .option(
      '--grace <seconds>',
      'after a worker fails, seconds the others get to exit before SIGTERM ' +
        `(default: DTRAIN_GRACE or ${DEFAULT_GRACE_SECONDS})`,
      nonNegativeSeconds,
    )
    .option(
      '--bind-to <what>',
      'core: each worker on a CPU of its own (needs taskset); none: the scheduler places them; ' +
        'auto (default, or DTRAIN_BIND_TO): core when there is a CPU per worker',
      bindTo,
    )
    .argument('<script>', 'worker script, run with this Node.js binary')
    .argument('[args...]', 'arguments for the script, passed through untouched')
    // Everything after the script belongs to the script, even options dtrain also knows.
    .passThroughOptions()
    .action(async (script: string, args: string[], options: RunOptions, command: Command) => {
      const path = resolve(script);
      if (!isFile(path)) command.error(`dtrain: script not found: ${script}`, { exitCode: 2 });
      let graceSeconds: number;
      let groupSize: number | undefined;
      let cpus: number[][] | undefined;
      const taskset = findTaskset();
      try {
        graceSeconds = options.grace ?? graceFromEnv() ?? DEFAULT_GRACE_SECONDS;
        groupSize = localSizeFromEnv();
        cpus = cpuPlan(options.np + (options.servers ?? 0), options.bindTo ?? bindToFromEnv() ?? 'auto', undefined, taskset ?? null);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      // A closed stdout (e.g. piped into `head`) must not crash the launcher and orphan the job.
      process.stdout.on('error', () => {});
      process.exitCode = await runJob({
        size: options.np,
        servers: options.servers ?? 0,
        timeline: options.timeline ?? timelineFromLauncherEnv(),
        script: path,
        args,
        transport: options.transport,
        timeoutSeconds: options.timeout,
        graceSeconds,
        groupSize,
        cpus,
        taskset,
      });
    });
}

function bindTo(v: string): BindTo {
  if (v !== 'auto' && v !== 'core' && v !== 'none') throw new UsageError(`--bind-to must be auto, core or none, got '${v}'`);
  return v;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
