import { InvalidArgumentError, type Command } from 'commander';
import { costModelFor } from '../comm/config';
import { loadBinding, type CostModel, type SimulationResult } from '../native';
import { positiveInteger, transportName } from './values';

interface SimulateOptions {
  algo: string;
  np: number;
  bytes: number;
  alpha?: number;
  beta?: number;
  gamma?: number;
  intraAlpha?: number;
  intraBeta?: number;
  hosts?: number;
  transport?: string;
  json?: boolean;
}

/** Parses a byte count: a whole number, optionally with K/M/G(i)B (powers of 1024). */
export function parseBytes(value: string): number {
  const m = /^(\d+)\s*(|B|K|KB|KiB|M|MB|MiB|G|GB|GiB)$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError('Expected a byte count such as 4096, 1MiB or 256MiB.');
  const unit = m[2].toUpperCase()[0] ?? '';
  const scale = unit === 'K' ? 2 ** 10 : unit === 'M' ? 2 ** 20 : unit === 'G' ? 2 ** 30 : 1;
  return Number(m[1]) * scale;
}

function nonNegativeNumber(value: string): number {
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v) || v < 0) {
    throw new InvalidArgumentError('Expected a number >= 0 (seconds, or seconds per byte).');
  }
  return v;
}

/**
 * Adds `dtrain simulate`: runs the schedules of every rank of an all-reduce against the
 * alpha-beta-gamma model and prints the prediction (one JSON object with --json).
 */
export function addSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description('predict an all-reduce at any scale by running its schedules against the alpha-beta-gamma model')
    .requiredOption('--algo <name>', 'an all-reduce algorithm (dtrain info lists them): ring, halving-doubling, hierarchical[:inner], ...')
    .requiredOption('-n, --np <P>', 'number of ranks', positiveInteger)
    .requiredOption('--bytes <B>', 'message size (e.g. 4096, 1MiB, 256MiB)', parseBytes)
    .option('--alpha <s>', 'latency per message, seconds', nonNegativeNumber)
    .option('--beta <s>', 'seconds per byte sent', nonNegativeNumber)
    .option('--gamma <s>', 'seconds per byte reduced', nonNegativeNumber)
    .option('--hosts <H>', 'ranks form H hosts of consecutive ranks (for hierarchical)', positiveInteger)
    .option('--intra-alpha <s>', 'latency between ranks of one host (with --hosts)', nonNegativeNumber)
    .option('--intra-beta <s>', 'seconds per byte between ranks of one host (with --hosts)', nonNegativeNumber)
    .option('--transport <kind>', "start from this transport's calibrated model (shm, tcp, ...)", transportName)
    .option('--json', 'print one JSON object')
    .action((options: SimulateOptions, command: Command) => {
      const binding = loadBinding();
      const base: Partial<CostModel> =
        options.transport && options.transport !== 'auto' ? costModelFor(options.transport) : {};
      if (options.hosts !== undefined && options.hosts > options.np) {
        command.error('dtrain: --hosts cannot exceed --np', { exitCode: 2 });
      }
      let result;
      try {
        result = binding.simulate({
          algorithm: options.algo,
          np: options.np,
          bytes: options.bytes,
          hosts: options.hosts,
          alpha: options.alpha ?? base.alpha,
          beta: options.beta ?? base.beta,
          gamma: options.gamma ?? base.gamma,
          alphaIntra: options.intraAlpha,
          betaIntra: options.intraBeta,
        });
      } catch (err) {
        command.error(`dtrain: ${(err as Error).message}`, { exitCode: 2 });
      }
      if (options.json) {
        process.stdout.write(`${JSON.stringify(simulateJson(result))}\n`);
        return;
      }
      const f = result.formulaS === null ? 'no closed form' : `formula ${fmt(result.formulaS)}`;
      process.stdout.write(
        `${result.algorithm}, ${result.np} ranks, ${result.bytes} bytes: predicted ${fmt(result.predictedS)} (${f}); ` +
          `${result.steps} steps, at most ${result.maxBytesSentPerRank} bytes sent per rank, ` +
          `${result.idleRanks} idle ranks; alpha ${result.model.alpha} s, beta ${result.model.beta} s/B, ` +
          `gamma ${result.model.gamma} s/B\n`,
      );
    });
}

/**
 * The `--json` line: the fields the README documents, in snake_case as in every other JSON line
 * dtrain prints (bench lines are read by scripts and plots).
 */
export function simulateJson(r: SimulationResult): Record<string, unknown> {
  const model: Record<string, number> = { alpha: r.model.alpha, beta: r.model.beta, gamma: r.model.gamma };
  if (r.model.alphaIntra !== undefined) model.alpha_intra = r.model.alphaIntra;
  if (r.model.betaIntra !== undefined) model.beta_intra = r.model.betaIntra;
  return {
    algo: r.algorithm,
    np: r.np,
    bytes: r.bytes,
    steps: r.steps,
    max_bytes_sent_per_rank: r.maxBytesSentPerRank,
    idle_ranks: r.idleRanks,
    predicted_s: r.predictedS,
    formula_s: r.formulaS,
    model,
    ...(r.hosts !== undefined ? { hosts: r.hosts } : {}),
  };
}

function fmt(seconds: number): string {
  if (seconds < 1e-3) return `${(seconds * 1e6).toFixed(2)} us`;
  if (seconds < 1) return `${(seconds * 1e3).toFixed(3)} ms`;
  return `${seconds.toFixed(3)} s`;
}
