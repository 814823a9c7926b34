import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { costModelFor } from '../comm/config';
import { loadBinding } from '../native';
import { addBenchGemmCommand } from './bench-gemm';
import { addBenchKernelsCommand } from './bench-kernels';
import { addBenchTrainCommand } from './bench-train';
import { membwPeer, mpiAllreducePeer, onPath, peerPath, requireTorchPython } from './peers';
import { lineChartSvg } from './svg-lines';
import { checkWholeElements, CommandError, parseBytes, positiveInteger, transportName, UsageError } from './values';

interface AllreduceBenchOptions {
  np: number;
  transport?: string;
  mode: 'async' | 'sync';
  minBytes?: number;
  maxBytes?: number;
  algorithm?: string;
  dtype: 'float32' | 'float16' | 'bfloat16';
  mpi?: string | true;
  gloo?: string | true;
  bound?: boolean;
  python?: string;
  calibrate?: boolean;
  predict?: boolean;
  plot?: string;
  shared?: boolean;
}

/** One measurement line, as both dtrain's worker and the peers print them. */
interface Measurement {
  impl: string;
  bytes: number;
  time_us: number;
  busbw_GBs: number;
  ok?: boolean;
  [field: string]: unknown;
}

/** A program to run and the JSON lines it prints, checked and located before anything starts. */
interface Job {
  name: string;
  cmd: string;
  args: string[];
  pattern: RegExp;
}

const DEFAULT_MIN_BYTES = 4096;
const DEFAULT_MAX_BYTES = 64 << 20;
const ELEMENT_BYTES = { float32: 4, float16: 2, bfloat16: 2 } as const;

/**
 * The sizes to time, from --min-bytes to --max-bytes: whole elements, min <= max. A bound left
 * out follows the other when the other passes its default (`--max-bytes 1000` alone times 1000
 * bytes), so one option is enough for a small or a large run.
 */
export function allreduceSizes(o: Pick<AllreduceBenchOptions, 'minBytes' | 'maxBytes' | 'dtype'>): { minBytes: number; maxBytes: number } {
  const maxBytes = o.maxBytes ?? Math.max(DEFAULT_MAX_BYTES, o.minBytes ?? 0);
  const minBytes = o.minBytes ?? Math.min(DEFAULT_MIN_BYTES, maxBytes);
  const es = ELEMENT_BYTES[o.dtype];
  checkWholeElements(minBytes, es, '--min-bytes', o.dtype);
  checkWholeElements(maxBytes, es, '--max-bytes', o.dtype);
  if (minBytes > maxBytes) throw new UsageError(`--min-bytes ${minBytes} is larger than --max-bytes ${maxBytes}`);
  return { minBytes, maxBytes };
}

/** Checks an all-reduce algorithm name against the addon's registry. */
function checkAlgorithm(name: string): void {
  try {
    loadBinding().algorithmId(name);
  } catch (err) {
    throw new UsageError(`--algorithm: ${(err as Error).message}`);
  }
}

/**
 * Adds `dtrain bench allreduce`: runs the all-reduce benchmark through the launcher and prints
 * JSON lines. With `--mpi` it also runs the MPI_Allreduce peer (bench/peers/mpi_allreduce.c,
 * compiled on first use) under mpirun, with `--gloo` the torch.distributed gloo peer
 * (bench/peers/gloo_allreduce.py), on the same sizes in the same run, and prints the ratio of
 * dtrain's time to each peer's per size. Every option is checked, and every peer found, before
 * the first worker starts.
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
    .option('--min-bytes <bytes>', `smallest size, e.g. 4096, 64KiB, 1MB (default ${DEFAULT_MIN_BYTES}, or --max-bytes if smaller)`, parseBytes)
    .option('--max-bytes <bytes>', 'largest size (default 64MiB, or --min-bytes if larger)', parseBytes)
    .option('--algorithm <name>', 'all-reduce algorithm (default: auto; dtrain info lists them)')
    .addOption(new Option('--dtype <type>', 'element type (bytes stay bytes: float16 moves twice the elements)').choices(['float32', 'float16', 'bfloat16']).default('float32'))
    .option('--mpi [binary]', "also run MPI_Allreduce side by side: bench/peers/mpi_allreduce.c (built with mpicc) or this binary, under mpirun")
    .option('--gloo [script]', 'also run the torch.distributed gloo peer side by side: bench/peers/gloo_allreduce.py or this script')
    .option('--python <path>', 'python with torch for --gloo (default: /usr/bin/python3, then python3)')
    .option('--calibrate', 'measure alpha, beta, gamma for the transport and store them for auto and simulate')
    .option('--predict', 'print the calibrated model\'s prediction beside each measurement')
    .option('--plot <file.svg>', 'also draw bus bandwidth against size for dtrain and each peer in the run, as an SVG')
    .option('--shared', "dtrain's buffer from dtrain.alloc (shared memory, which same-host peers reduce from in place) instead of an ordinary array")
    .option('--bound', "also measure one core's memcpy bandwidth at each size (bench/peers/membw.c) and print the bus bandwidth it allows: (np-1)/np of it")
    .action(async (options: AllreduceBenchOptions) => {
      const cli = join(__dirname, '..', '..', 'bin', 'dtrain.js');
      const launch = [cli, 'run', '-np', String(options.np), ...(options.transport ? ['--transport', options.transport] : [])];
      const ours = /^\[0\] (\{.*\})$/;
      if (options.calibrate) {
        // Calibration times fixed sizes with fixed algorithms; say so rather than ignore them.
        const ignored = (['minBytes', 'maxBytes', 'algorithm', 'mpi', 'gloo', 'predict', 'plot', 'bound', 'shared'] as const).filter((k) => options[k] !== undefined);
        if (ignored.length > 0 || options.dtype !== 'float32') {
          const flag = ignored.length > 0 ? `--${ignored[0].replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : '--dtype';
          throw new UsageError(`--calibrate takes only --np and --transport (it measures fixed sizes in float32); drop ${flag}`);
        }
        const lines = await collect({ name: 'the calibration workers', cmd: process.execPath, args: [...launch, join(__dirname, '..', '..', 'bench', 'calibrate-worker.js')], pattern: ours });
        if (lines.length !== 1) throw new CommandError('the calibration workers printed no result');
        return;
      }
      if (options.dtype !== 'float32' && (options.mpi || options.gloo || options.predict)) {
        // The peers time float32 and the cost model is fitted on float32 sums.
        throw new UsageError(`--dtype ${options.dtype} works without --mpi, --gloo, --calibrate and --predict, which are float32 only`);
      }
      const { minBytes, maxBytes } = allreduceSizes(options);
      if (options.algorithm !== undefined) checkAlgorithm(options.algorithm);
      const sizeArgs = ['--min-bytes', String(minBytes), '--max-bytes', String(maxBytes)];
      const jobs: Job[] = [
        {
          name: 'the dtrain workers',
          cmd: process.execPath,
          args: [
            ...launch,
            join(__dirname, '..', '..', 'bench', 'allreduce-worker.js'),
            '--mode',
            options.mode,
            ...sizeArgs,
            ...(options.algorithm ? ['--algorithm', options.algorithm] : []),
            '--dtype',
            options.dtype,
            ...(options.shared ? ['--shared'] : []),
          ],
          pattern: ours,
        },
      ];
      // The peers take `NP MAX_BYTES MIN_BYTES` (MPI: the rank count from mpirun instead).
      const peerSizes = [String(maxBytes), String(minBytes)];
      if (options.mpi) {
        let binary: string;
        if (options.mpi === true) binary = mpiAllreducePeer();
        else {
          if (!existsSync(options.mpi)) throw new UsageError(`--mpi: no such file ${options.mpi}`);
          if (!onPath('mpirun')) throw new CommandError('--mpi needs mpirun on PATH (OpenMPI: apt-get install openmpi-bin)');
          binary = options.mpi;
        }
        const args = ['--allow-run-as-root', '--oversubscribe', '-np', String(options.np), binary, ...peerSizes];
        jobs.push({ name: 'mpi', cmd: 'mpirun', args, pattern: /^(\{.*\})$/ });
      }
      if (options.gloo) {
        const script = options.gloo === true ? peerPath('gloo_allreduce.py') : options.gloo;
        if (!existsSync(script)) throw new UsageError(`--gloo: no such file ${script}`);
        const py = requireTorchPython('--gloo', options.python);
        jobs.push({ name: 'gloo', cmd: py, args: [script, String(options.np), ...peerSizes], pattern: /^(\{.*\})$/ });
      }
      const [mine, ...peerLines] = await sequence(jobs);
      const peers = peerLines.map((lines, i): [string, Measurement[]] => [jobs[i + 1].name, lines]);
      const bounds = options.bound ? printBounds(mine, options) : [];
      if (options.predict) printPredictions(mine, options);
      for (const [name, peer] of peers) {
        for (const m of mine) {
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
      for (const [name, lines] of [['dtrain', mine] as [string, Measurement[]], ...peers]) {
        if (lines.length === 0) throw new CommandError(`${name} printed no measurement`);
        const wrong = lines.find((m) => m.ok === false);
        if (wrong) throw new CommandError(`${name}: the all-reduce of ${wrong.bytes} bytes gave a wrong sum (ok: false)`);
      }
      if (options.plot) plotBusBandwidth(options, mine, bounds.length > 0 ? [...peers, ['bound (one core\'s memcpy)', bounds]] : peers);
    });
}

/**
 * `--bound`: the fastest an all-reduce of n bytes can be on one host with one core per rank.
 * Moving every byte once (each rank reads its 1/np chunk of every rank's input straight from
 * their memory, reduces it, and writes the result into every rank's output), a rank reads n
 * bytes and writes n; at one core's memcpy bandwidth B (bytes read plus written per second)
 * that takes 2n / B, so busbw = n / time x 2(np-1)/np can reach at most (np-1) B / np.
 * B is measured now, at each size, so the bound and the measurement share the machine's state.
 */
function printBounds(mine: Measurement[], options: AllreduceBenchOptions): Measurement[] {
  const probe = membwPeer();
  const sizes = mine.map((m) => String(m.bytes));
  const out = spawnSync(probe, sizes, { encoding: 'utf8' });
  if (out.status !== 0) throw new CommandError(`${probe} failed: ${(out.stderr || '').trim()}`);
  const p = options.np;
  const bounds: Measurement[] = [];
  for (const line of out.stdout.trim().split('\n')) {
    const b = JSON.parse(line) as { bytes: number; memcpy_GBs: number };
    const m = mine.find((x) => x.bytes === b.bytes);
    if (!m) continue;
    const bound = ((p - 1) * b.memcpy_GBs) / p;
    console.log(
      JSON.stringify({
        compare: 'dtrain/bound',
        np: p,
        bytes: b.bytes,
        memcpy_GBs: b.memcpy_GBs,
        bound_busbw_GBs: +bound.toFixed(3),
        busbw_GBs: m.busbw_GBs,
        fraction: +(m.busbw_GBs / bound).toFixed(3),
      }),
    );
    bounds.push({ ...m, busbw_GBs: bound });
  }
  return bounds;
}

/** `--plot`: bus bandwidth against size, one line for dtrain and one per peer. */
function plotBusBandwidth(options: AllreduceBenchOptions, mine: Measurement[], peers: [string, Measurement[]][]): void {
  const transport = String(mine[0]?.transport ?? options.transport ?? 'shm');
  const series = [
    { name: `dtrain ${options.mode} (${options.algorithm ?? 'auto'}, ${transport})`, points: mine.map((m): [number, number] => [m.bytes, m.busbw_GBs]) },
    ...peers.map(([name, lines]) => ({ name, points: lines.map((m): [number, number] => [m.bytes, m.busbw_GBs]) })),
  ];
  const svg = lineChartSvg({
    title: `All-reduce bus bandwidth, ${options.np} ranks`,
    subtitle: `${options.dtype} sum; busbw = bytes / time x 2(np-1)/np, as nccl-tests; one run, peers one after another`,
    xLabel: 'bytes per rank',
    yLabel: 'bus bandwidth (GB/s)',
    xLog: true,
    series,
  });
  try {
    writeFileSync(options.plot as string, svg);
  } catch (err) {
    throw new CommandError(`--plot: could not write ${options.plot}: ${(err as Error).message}`);
  }
  console.error(`dtrain bench allreduce: plot written to ${options.plot}`);
}

/** Runs the jobs one after another (so they do not share the cores) and returns their lines. */
async function sequence(jobs: Job[]): Promise<Measurement[][]> {
  const out: Measurement[][] = [];
  for (const job of jobs) out.push(await collect(job));
  return out;
}

/** `--predict`: the calibrated model's time for each measured size, beside the measurement. */
function printPredictions(ours: Measurement[], options: AllreduceBenchOptions): void {
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

/**
 * Runs a job, echoes every JSON line matching its pattern, and returns them parsed. Its stderr
 * goes to ours; a failure to start or a non-zero exit is a CommandError naming the job.
 */
function collect(job: Job): Promise<Measurement[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(job.cmd, job.args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const out: Measurement[] = [];
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const m = job.pattern.exec(line);
        if (!m) continue;
        console.log(m[1]);
        out.push(JSON.parse(m[1]) as Measurement);
      }
    });
    child.on('error', (err) => reject(new CommandError(`${job.name}: could not start ${job.cmd}: ${err.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new CommandError(`${job.name} failed (${signal ? `signal ${signal}` : `exit code ${code}`}); the messages above say why`));
    });
  });
}
