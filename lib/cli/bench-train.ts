import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { loadBinding } from '../native';
import { aggregate, findNumpyPython, flopsPerSample, runNumpyGemm, stepProducts } from './bench-gemm';
import { peerPath, pythonWith, resolveTfjs } from './peers';
import { barChartSvg } from './svg-bars';
import { CommandError, parseBytes } from './values';

interface TrainBenchOptions {
  np: number[];
  batches: number[];
  steps: number;
  warmup: number;
  fusionThreshold?: number;
  algorithm?: string;
  torch: boolean;
  tfjs: boolean;
  python?: string;
  torchBlasThreads: string;
  plot?: string;
  json?: boolean;
}

/** One throughput measurement, from dtrain's worker or the PyTorch DDP peer. */
interface TrainLine {
  impl: string;
  np: number;
  batch_per_worker: number;
  samples_per_s: number;
  step_ms: number;
  [field: string]: unknown;
}

function intList(value: string): number[] {
  return value.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${s} is not a positive integer`);
    return n;
  });
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${value} is not a non-negative integer`);
  return n;
}

/** Runs a command and returns the JSON objects it printed on lines matching `pattern`. */
function jsonLines(cmd: string, args: string[], pattern: RegExp, env: NodeJS.ProcessEnv = process.env): Promise<TrainLine[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.on('error', (err) => reject(new CommandError(`could not start ${cmd}: ${err.message}`)));
    child.on('close', (code) => {
      if (code !== 0) return reject(new CommandError(`${cmd} ${args.slice(0, 4).join(' ')} ... exited with code ${code}; the messages above say why`));
      resolve(
        text
          .split('\n')
          .map((l) => pattern.exec(l)?.[1])
          .filter((l): l is string => l !== undefined)
          .map((l) => JSON.parse(l) as TrainLine),
      );
    });
  });
}

const r1 = (x: number) => +x.toFixed(1);
const r3 = (x: number) => +x.toFixed(3);

/**
 * Adds `dtrain bench train`: samples/s of the reference MLP trained data-parallel for each
 * worker count and batch size, with scaling efficiency, beside the PyTorch DDP peer
 * (bench/peers/torch_ddp.py, same model, data, batch, lr and momentum) and the GEMM bound
 * (np x single-core OpenBLAS GFLOP/s on the step's products / FLOPs per sample), all in one run.
 */
export function addBenchTrainCommand(bench: Command): void {
  bench
    .command('train')
    .description('training throughput of the reference MLP vs PyTorch DDP and the GEMM bound')
    .option('--np <N[,N...]>', 'worker counts', intList, [1, 2])
    .option('--batches <B[,B...]>', 'batch sizes per worker', intList, [64, 128, 256, 512])
    .option('--steps <N>', 'timed steps per measurement', positive, 300)
    .option('--warmup <N>', 'untimed steps first', positive, 30)
    .option('--fusion-threshold <bytes>', "dtrain's fusion threshold, e.g. 1MiB (default: DTRAIN_FUSION_THRESHOLD or 1 MiB)", parseBytes)
    .option('--algorithm <name>', "dtrain's all-reduce algorithm")
    .option('--no-torch', 'skip the PyTorch DDP peer')
    .option('--no-tfjs', 'skip the TensorFlow.js peer (np 1; runs when @tensorflow/tfjs is installed)')
    .option('--python <path>', 'python with torch (default /usr/bin/python3)')
    .option(
      '--torch-blas-threads <N|default>',
      "OPENBLAS_NUM_THREADS for the peer: 1 (default: one thread per worker, as dtrain) or 'default' (OpenBLAS's own choice, all cores per worker)",
      '1',
    )
    .option('--plot <file.svg>', 'draw samples/s per batch size as grouped bars')
    .option('--json', 'JSON lines only')
    .action(async (o: TrainBenchOptions) => {
      const print = (line: object, text: string) => console.log(o.json ? JSON.stringify(line) : text);
      const cli = join(__dirname, '..', '..', 'bin', 'dtrain.js');
      const worker = join(__dirname, '..', '..', 'bench', 'train-worker.js');
      const py = o.torch ? pythonWith('torch', o.python) : undefined;
      if (o.torch && !py) print({ kind: 'note', note: 'torch not found: no PyTorch DDP peer' }, 'PyTorch not found (apt-get install python3-torch libopenblas-dev): no peer');
      // tfjs trains in one process: its peer line sits beside dtrain's np 1.
      const tfjs = o.tfjs && o.np.includes(1) ? resolveTfjs() : undefined;
      if (o.tfjs && o.np.includes(1) && !tfjs) print({ kind: 'note', note: 'tfjs not found: no TensorFlow.js peer' }, 'TensorFlow.js not found (npm install @tensorflow/tfjs): no tfjs peer');
      const info = loadBinding().kernels.info();
      const lines: TrainLine[] = [];
      const show = (l: TrainLine) => {
        lines.push(l);
        print({ kind: 'train', ...l }, `${l.impl.padEnd(15)} np ${l.np}  batch ${String(l.batch_per_worker).padStart(3)}  ${l.samples_per_s.toFixed(0).padStart(7)} samples/s  step ${l.step_ms.toFixed(2)} ms${l.blas ? `  (${String(l.blas)})` : ''}`);
      };
      // Interleaved per batch size (dtrain, then the peer), so machine drift hits both alike.
      for (const batch of o.batches) {
        for (const np of o.np) {
          const args = [cli, 'run', '-np', String(np), worker, '--batch', String(batch), '--steps', String(o.steps), '--warmup', String(o.warmup)];
          if (o.fusionThreshold !== undefined) args.push('--fusion-threshold', String(o.fusionThreshold));
          if (o.algorithm) args.push('--algorithm', o.algorithm);
          for (const l of await jsonLines(process.execPath, args, /^\[0\] (\{.*\})$/)) show(l);
          if (py) {
            const env = { ...process.env };
            if (o.torchBlasThreads !== 'default') Object.assign(env, { OPENBLAS_NUM_THREADS: o.torchBlasThreads, OMP_NUM_THREADS: o.torchBlasThreads });
            const peerArgs = [peerPath('torch_ddp.py'), String(np), String(batch), String(o.steps), String(o.warmup)];
            for (const l of await jsonLines(py, peerArgs, /^(\{.*\})$/, env)) show({ ...l, blas_threads: o.torchBlasThreads });
          }
          if (tfjs && np === 1) {
            const peerArgs = [peerPath('tfjs_train.js'), String(batch), String(o.steps), String(o.warmup)];
            for (const l of await jsonLines(process.execPath, peerArgs, /^(\{.*\})$/)) show(l);
          }
        }
      }
      const find = (impl: string, np: number, batch: number) => lines.find((l) => l.impl.startsWith(impl) && l.np === np && l.batch_per_worker === batch);
      // The GEMM bound: np cores each at single-threaded OpenBLAS speed on the step's products.
      const numpyPy = findNumpyPython(o.python);
      const bound = new Map<number, number>();
      if (numpyPy) {
        const peer = runNumpyGemm(numpyPy, o.batches, 0.2);
        const shapes = loadBinding().nn.gemmShapes(o.batches);
        for (const batch of o.batches) {
          const step = stepProducts(shapes.filter((s) => s.batch === batch));
          const gf = aggregate(step.map((s) => peer.find((p) => p.op === s.op && p.m === s.m && p.n === s.n && p.k === s.k) ?? { ...s, GFLOPs: NaN }));
          bound.set(batch, (gf * 1e9) / flopsPerSample());
          print(
            { kind: 'gemm_bound', batch_per_worker: batch, blas: peer[0]?.blas, blas_GFLOPs_per_core: r1(gf), flops_per_sample: flopsPerSample(), samples_per_s_per_core: Math.round((gf * 1e9) / flopsPerSample()) },
            `GEMM bound at batch ${batch}: ${gf.toFixed(1)} GFLOP/s per core (${peer[0]?.blas}) / ${flopsPerSample()} FLOP per sample = ${Math.round((gf * 1e9) / flopsPerSample())} samples/s per core`,
          );
        }
      }
      const base = o.np.includes(1) ? 1 : undefined;
      for (const batch of o.batches) {
        for (const np of o.np) {
          const d = find('dtrain', np, batch);
          const t = find('torch', np, batch);
          if (!d) continue;
          const cmp: Record<string, unknown> = { kind: 'compare', np, batch_per_worker: batch, dtrain_samples_per_s: d.samples_per_s };
          if (t) cmp.dtrain_over_torch = r3(d.samples_per_s / t.samples_per_s);
          const tf = find('tfjs', np, batch);
          if (tf) cmp.dtrain_over_tfjs = r3(d.samples_per_s / tf.samples_per_s);
          if (base !== undefined && np !== base) {
            const d1 = find('dtrain', 1, batch);
            const t1 = find('torch', 1, batch);
            if (d1) cmp.dtrain_scaling_efficiency = r3(d.samples_per_s / (np * d1.samples_per_s));
            if (t && t1) cmp.torch_scaling_efficiency = r3(t.samples_per_s / (np * t1.samples_per_s));
          }
          const b = bound.get(batch);
          if (b) cmp.fraction_of_gemm_bound = r3(d.samples_per_s / (np * b));
          print(
            cmp,
            `np ${np} batch ${batch}: ` +
              Object.entries(cmp)
                .filter(([k]) => !['kind', 'np', 'batch_per_worker'].includes(k))
                .map(([k, v]) => `${k} ${v}`)
                .join(', '),
          );
        }
      }
      if (o.plot) {
        const series = o.np.flatMap((np) => [
          { name: `dtrain, ${np} worker${np > 1 ? 's' : ''}`, values: o.batches.map((b) => find('dtrain', np, b)?.samples_per_s ?? null) },
          ...(py ? [{ name: `PyTorch ${String(find('torch', np, o.batches[0])?.torch ?? '')} DDP, ${np} worker${np > 1 ? 's' : ''}`, values: o.batches.map((b) => find('torch', np, b)?.samples_per_s ?? null) }] : []),
        ]);
        const npMax = Math.max(...o.np);
        const svg = barChartSvg({
          title: 'Training the reference MLP (784-512-256-10) on Fashion-MNIST: samples/s',
          subtitle: `${cpus().length} cores (${cpus()[0]?.model ?? 'cpu'}), dtrain kernels ${info.isa}; PyTorch with OpenBLAS, ${o.torchBlasThreads === 'default' ? "OpenBLAS's own thread count" : `${o.torchBlasThreads} thread(s)`} per worker; dashed: GEMM bound for ${npMax} workers`,
          yLabel: 'samples/s (all workers)',
          groups: o.batches.map((b) => `batch ${b} per worker`),
          series,
          marks: bound.size ? { name: `GEMM bound, ${npMax} workers`, values: o.batches.map((b) => (bound.has(b) ? (bound.get(b) as number) * npMax : null)) } : undefined,
        });
        writeFileSync(o.plot, svg);
        print({ kind: 'plot', file: o.plot }, `wrote ${o.plot}`);
      }
    });
}
