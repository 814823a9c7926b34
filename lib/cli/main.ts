import { Command, CommanderError } from 'commander';
import { packageInfo } from '../common/package-info';
import { normalizeArgv } from './argv';
import { addBenchCommand } from './bench';
import { addInfoCommand } from './info';
import { addRunCommand } from './run';
import { addSimulateCommand } from './simulate';
import { addTimelineCommand } from './timeline';
import { CommandError } from './values';

/** Exit code for usage errors (bad options, missing script), as most Unix tools use. */
const USAGE_EXIT_CODE = 2;

/**
 * Builds the `dtrain` command line. Each subcommand lives in its own module exporting
 * `addXCommand(program)`, so adding one is one line here. Settings such as exitOverride must be
 * applied before the subcommands are added: commander copies them at `.command()` time.
 */
export function buildProgram(): Command {
  const program = new Command('dtrain')
    .description('distributed data-parallel training for Node.js')
    .version(packageInfo().version)
    .enablePositionalOptions()
    .exitOverride()
    // Commander's own messages start "error:"; name the tool, as the launcher's messages do.
    .configureOutput({
      outputError: (message, write) =>
        write(message.startsWith('dtrain:') ? message : `dtrain: ${message}`),
    });
  addRunCommand(program);
  addInfoCommand(program);
  addBenchCommand(program);
  addSimulateCommand(program);
  addTimelineCommand(program);
  return program;
}

/**
 * Runs the CLI. Sets `process.exitCode` rather than calling `process.exit()`, so buffered output
 * to pipes is not cut off.
 *
 * @param argv - `process.argv`-style array
 */
export async function main(argv: readonly string[] = process.argv): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(normalizeArgv(program, argv));
  } catch (err) {
    // A usage error (exit 2) or a command that could not go on (exit 1): one line, no stack.
    if (err instanceof CommandError) {
      process.stderr.write(`dtrain: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    if (!(err instanceof CommanderError)) throw err;
    // Commander has already printed the message; help and --version exit 0.
    process.exitCode = err.exitCode === 0 ? 0 : USAGE_EXIT_CODE;
  }
}
