import { InvalidArgumentError, type Command } from 'commander';
import { loadBinding, type AlgorithmCollective, type SimulationResult } from '../native';
import { modelFrom, networkName, type ModelOptions } from './simulate-network';
import { addTrainOptions, runTrainSimulation, TRAIN_ONLY, type TrainSimOptions } from './simulate-train';
import { checkWholeElements, parseBytes, positiveInteger, positiveIntegerList, transportName } from './values';

export { parseBytes } from './values';

interface SimulateOptions extends ModelOptions, TrainSimOptions {
  train?: boolean;
  bytes?: number;
  collective?: SimulatedCollective;
}

/** The collectives `simulate` runs: every one with schedules (the registry's). Reductions move float32. */
type SimulatedCollective = AlgorithmCollective;
const simulated = (): string[] => Object.keys(loadBinding().registry.algorithmNames);
const REDUCING: ReadonlySet<string> = new Set(['allreduce', 'reduceScatter', 'reduce']);
const PER_RANK: Readonly<Record<string, string>> = { allgather: ' per rank', gather: ' per rank', scatter: ' per rank', alltoall: ' per pair of ranks' };

function nonNegativeNumber(value: string): number {
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v) || v < 0) {
    throw new InvalidArgumentError('Expected a number >= 0 (seconds, or seconds per byte).');
  }
  return v;
}

function collectiveName(value: string): SimulatedCollective {
  if (!simulated().includes(value)) throw new InvalidArgumentError(`Expected one of ${simulated().join(', ')}.`);
  return value as SimulatedCollective;
}

/**
 * Adds `dtrain simulate`: runs the schedules of every rank of an all-reduce (or all-gather)
 * against the alpha-beta-gamma model and prints the prediction (one JSON object with --json).
 * With --train (lib/cli/simulate-train.ts) it predicts whole training steps instead.
 */
export function addSimulateCommand(program: Command): void {
  const cmd = program
    .command('simulate')
    .description('predict an all-reduce at any scale by running its schedules against the alpha-beta-gamma model')
    .option('--algo <name>', 'an all-reduce algorithm (dtrain info lists them): ring, halving-doubling, hierarchical[:inner], ... (--train: a list)')
    .option('-n, --np <P>', 'number of ranks (--train: a list, e.g. 2,16,128,2048)', positiveIntegerList)
    .option('--bytes <B>', 'message size (e.g. 4096, 1MiB, 256MiB); all-gather, gather, scatter: per rank; all-to-all: per pair', parseBytes)
    .option('--collective <kind>', 'allreduce (default), or any collective `dtrain info` lists algorithms for', collectiveName)
    .option('--alpha <s>', 'latency per message, seconds', nonNegativeNumber)
    .option('--beta <s>', 'seconds per byte sent', nonNegativeNumber)
    .option('--gamma <s>', 'seconds per byte reduced', nonNegativeNumber)
    .option('--network <name>', 'start from a named network: 1gbe, 10gbe, 25gbe, 100gbe (see below)', networkName)
    .option('--hosts <H>', 'ranks form H hosts of consecutive ranks (for hierarchical)', positiveInteger)
    .option('--intra-alpha <s>', 'latency between ranks of one host (with --hosts)', nonNegativeNumber)
    .option('--intra-beta <s>', 'seconds per byte between ranks of one host (with --hosts)', nonNegativeNumber)
    .option('--transport <kind>', "start from this transport's calibrated model (shm, tcp, ...)", transportName)
    .option('--json', 'print one JSON object (--train: one line per P, algorithm and compression)');
  addTrainOptions(cmd).action((options: SimulateOptions, command: Command) => {
    const usage = (msg: string): never => command.error(`dtrain: ${msg}`, { exitCode: 2 });
    if (options.np === undefined) usage("error: required option '-n, --np <P>' not specified");
    if (options.train) {
      if (options.bytes !== undefined) usage('--train takes --grad-bytes (the float32 gradients), not --bytes');
      if (options.collective !== undefined) usage('--train chooses the collective from each compression; drop --collective');
      runTrainSimulation(options, command);
      return;
    }
    const trainOnly = TRAIN_ONLY.find((k) => options[k] !== undefined);
    if (trainOnly) {
      const flag = `--${trainOnly.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
      usage(`${flag} goes with --train`);
    }
    if (options.algo === undefined) usage("error: required option '--algo <name>' not specified");
    if (options.bytes === undefined) usage("error: required option '--bytes <B>' not specified");
    if (options.np.length !== 1) usage('--np takes one number (a list goes with --train)');
    const np = options.np[0];
    // Reductions sum float32 elements; the other collectives move bytes as they are.
    if (REDUCING.has(options.collective ?? 'allreduce')) checkWholeElements(options.bytes as number, 4, '--bytes', 'float32', true);
    if (options.hosts !== undefined && options.hosts > np) usage('--hosts cannot exceed --np');
    let result;
    try {
      result = loadBinding().simulate({
        algorithm: options.algo as string,
        np,
        bytes: options.bytes as number,
        collective: options.collective,
        hosts: options.hosts,
        ...modelFrom(options),
        alphaIntra: options.intraAlpha,
        betaIntra: options.intraBeta,
      });
    } catch (err) {
      return usage((err as Error).message);
    }
    if (options.json) {
      process.stdout.write(`${JSON.stringify(simulateJson(result))}\n`);
      return;
    }
    const f = result.formulaS === null ? 'no closed form' : `formula ${fmt(result.formulaS)}`;
    const what = result.collective === 'allreduce' ? result.algorithm : `${result.algorithm} ${result.collective}`;
    const per = PER_RANK[result.collective] ?? '';
    process.stdout.write(
      `${what}, ${result.np} ranks, ${result.bytes} bytes${per}: predicted ${fmt(result.predictedS)} (${f}); ` +
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
    collective: r.collective,
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
