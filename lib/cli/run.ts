import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { runJob } from '../launcher/job';
import { nonNegativeSeconds, parseSeconds, positiveInteger, positiveSeconds } from './values';

/** Grace period after a worker failure when neither --grace nor DTRAIN_GRACE is given. */
const DEFAULT_GRACE_SECONDS = 5;

interface RunOptions {
  np: number;
  transport?: 'shm' | 'tcp';
  timeout?: number;
  grace?: number;
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
    .addOption(
      new Option('--transport <kind>', 'exported as DTRAIN_TRANSPORT').choices(['shm', 'tcp']),
    )
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
    .argument('<script>', 'worker script, run with this Node.js binary')
    .argument('[args...]', 'arguments for the script, passed through untouched')
    // Everything after the script belongs to the script, even options dtrain also knows.
    .passThroughOptions()
    .action(async (script: string, args: string[], options: RunOptions, command: Command) => {
      const path = resolve(script);
      if (!isFile(path)) command.error(`dtrain: script not found: ${script}`, { exitCode: 2 });
      const graceSeconds = options.grace ?? graceFromEnv(command);
      // A closed stdout (e.g. piped into `head`) must not crash the launcher and orphan the job.
      process.stdout.on('error', () => {});
      process.exitCode = await runJob({
        size: options.np,
        script: path,
        args,
        transport: options.transport,
        timeoutSeconds: options.timeout,
        graceSeconds,
      });
    });
}

function graceFromEnv(command: Command): number {
  const raw = process.env.DTRAIN_GRACE;
  if (raw === undefined || raw === '') return DEFAULT_GRACE_SECONDS;
  const seconds = parseSeconds(raw);
  if (seconds === null) {
    command.error(`dtrain: DTRAIN_GRACE must be a number of seconds, got ${JSON.stringify(raw)}`, {
      exitCode: 2,
    });
  }
  return seconds;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
