import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { costModelFor } from '../comm/config';
import { loadBinding } from '../native';
import { addBenchGemmCommand } from './bench-gemm';
import { addBenchKernelsCommand } from './bench-kernels';
import { addBenchTrainCommand } from './bench-train';
import { positiveInteger, transportName, UsageError } from './values';

interface AllreduceBenchOptions {
  np: number;
  transport?: string;
  mode: 'async' | 'sync';
  minBytes: number;
  maxBytes: number;
  algorithm?: string;
  dtype: 'float32' | 'float16' | 'bfloat16';
  mpi?: string;
  gloo?: string;
  calibrate?: boolean;
  predict?: boolean;
}

/** One measurement line, as both dtrain's worker and the MPI peer print them. */
interface Measurement {
  impl: string;
  bytes: number;
  time_us: number;
  busbw_GBs: number;
  [field: string]: unknown;
}

/**
 * Adds `dtrain bench allreduce`: runs the all-reduce benchmark through the launcher and prints
 * JSON lines; with `--mpi PEER` it also runs an MPI_Allreduce benchmark binary under mpirun (given
 * `maxBytes minBytes`, it prints a JSON line per size with `bytes`, `time_us` and `busbw_GBs`, as
 * ours does; the project's peer benchmarks are kept outside this repository) on the same sizes,
 * in the same run, and prints the ratio of dtrain's time to MPI's per size.
 */
export function addBenchCommand(program: Command): void {
  const bench = program.command('bench').description('benchmarks that print JSON lines');
  addBenchKernelsCommand(bench);
  addBenchGemmCommand(bench);
  addBenchTrainCommand(bench);
  bench
    .command('allreduce')
    .description('time all-reduce (float32 sum, or --dtype) for sizes from --min-bytes to --max-bytes, x4 steps')
    .requiredOption('-n, --np <N>', 'number of workers', positiveInteger, 2)
    .option('--transport <kind>', 'transport: auto, shm, tcp, ... (dtrain info lists them)', transportName)
    .addOption(new Option('--mode <mode>', 'async (Promise) or sync calls').choices(['async', 'sync']).default('async'))
    .option('--min-bytes <bytes>', 'smallest size', positiveInteger, 4096)
    .option('--max-bytes <bytes>', 'largest size', positiveInteger, 64 << 20)
    .option('--algorithm <name>', 'all-reduce algorithm (default: auto)')
    .addOption(new Option('--dtype <type>', 'element type (bytes stay bytes: float16 moves twice the elements)').choices(['float32', 'float16', 'bfloat16']).default('float32'))
    .option('--mpi <binary>', 'also run this MPI peer benchmark binary with mpirun, side by side')
    .option('--gloo <script>', 'also run this torch.distributed gloo peer script (with /usr/bin/python3), side by side')
    .option('--calibrate', 'measure alpha, beta, gamma for the transport and store them for auto and simulate')
    .option('--predict', 'print the calibrated model\'s prediction beside each measurement')
    .action(async (options: AllreduceBenchOptions) => {
      if (options.dtype !== 'float32' && (options.mpi || options.gloo || options.calibrate || options.predict)) {
        // The peers time float32 and the cost model is fitted on float32 sums.
        throw new UsageError(`--dtype ${options.dtype} works without --mpi, --gloo, --calibrate and --predict, which are float32 only`);
      }
      const cli = join(__dirname, '..', '..', 'bin', 'dtrain.js');
      if (options.calibrate) {
        const args = [cli, 'run', '-np', String(options.np)];
        if (options.transport) args.push('--transport', options.transport);
        args.push(join(__dirname, '..', '..', 'bench', 'calibrate-worker.js'));
        const lines = await collect(process.execPath, args, /^\[0\] (\{.*\})$/);
        if (lines.length !== 1) process.exitCode = 1;
        return;
      }
      const worker = join(__dirname, '..', '..', 'bench', 'allreduce-worker.js');
      const sizeArgs = ['--min-bytes', String(options.minBytes), '--max-bytes', String(options.maxBytes)];
      const runArgs = [cli, 'run', '-np', String(options.np)];
      if (options.transport) runArgs.push('--transport', options.transport);
      runArgs.push(worker, '--mode', options.mode, ...sizeArgs);
      if (options.algorithm) runArgs.push('--algorithm', options.algorithm);
      runArgs.push('--dtype', options.dtype);
      const ours = await collect(process.execPath, runArgs, /^\[0\] (\{.*\})$/);
      const peers: Array<[string, Measurement[]]> = [];
      if (options.mpi) {
        if (!existsSync(options.mpi)) throw new UsageError(`--mpi: no such file ${options.mpi}`);
        peers.push([
          'mpi',
          await collect(
            'mpirun',
            ['--allow-run-as-root', '--oversubscribe', '-np', String(options.np), options.mpi, String(options.maxBytes), String(options.minBytes)],
            /^(\{.*\})$/,
          ),
        ]);
      }
      if (options.gloo) {
        if (!existsSync(options.gloo)) throw new UsageError(`--gloo: no such file ${options.gloo}`);
        peers.push([
          'gloo',
          await collect('/usr/bin/python3', [options.gloo, String(options.np), String(options.maxBytes), String(options.minBytes)], /^(\{.*\})$/),
        ]);
      }
      if (options.predict) {
        const binding = loadBinding();
        const model = costModelFor(String(ours[0]?.transport ?? 'shm'));
        const algorithm = options.algorithm && options.algorithm !== 'auto' ? options.algorithm : 'ring';
        for (const m of ours) {
          const sim = binding.simulate({ algorithm, np: options.np, bytes: m.bytes, ...model });
          // The engine exchanges a descriptor (one alpha) before every collective.
          const predicted = sim.predictedS + model.alpha;
          console.log(
            JSON.stringify({
              compare: 'measured/predicted',
              algorithm,
              np: options.np,
              bytes: m.bytes,
              measured_us: m.time_us,
              measured_p50_us: m.p50_us,
              predicted_us: +(predicted * 1e6).toFixed(1),
              ratio: +(m.time_us / 1e6 / predicted).toFixed(3),
              ratio_p50: +(Number(m.p50_us) / 1e6 / predicted).toFixed(3),
            }),
          );
        }
      }
      for (const [name, peer] of peers) {
        for (const m of ours) {
          const p = peer.find((x) => x.bytes === m.bytes);
          if (!p) continue;
          console.log(
            JSON.stringify({
              compare: `dtrain/${name}`,
              np: options.np,
              bytes: m.bytes,
              time_ratio: +(m.time_us / p.time_us).toFixed(3),
              busbw_ratio: +(m.busbw_GBs / p.busbw_GBs).toFixed(3),
            }),
          );
        }
      }
      if (ours.length === 0 || peers.some(([, p]) => p.length === 0)) process.exitCode = 1;
    });
}

/** Runs a command, echoes every JSON line matching `pattern`, and returns them parsed. */
function collect(cmd: string, args: string[], pattern: RegExp): Promise<Measurement[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const out: Measurement[] = [];
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const m = pattern.exec(line);
        if (!m) continue;
        console.log(m[1]);
        out.push(JSON.parse(m[1]) as Measurement);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${cmd} exited with code ${code}`));
      else resolve(out);
    });
  });
}
