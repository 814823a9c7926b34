import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { loadBinding } from '../native';
import type { Isa } from '../kernels/binding';
import type { NativeGemmShape } from '../nn/binding';
import { peerPath, pythonWith } from './peers';
import { UsageError } from './values';

interface GemmBenchOptions {
  batches: number[];
  isa?: string[];
  minTime: number;
  json?: boolean;
  numpy: boolean;
  python?: string;
}

/** FLOPs of one training sample of the reference MLP: the 8 products of forward and backward. */
export const MLP_LAYERS: [number, number][] = [
  [784, 512],
  [512, 256],
  [256, 10],
];

/** The products a training step runs: every forward and weight gradient, input gradients but the first layer's. */
export function stepProducts(shapes: NativeGemmShape[]): NativeGemmShape[] {
  return shapes.filter((s) => !(s.op === 'grad_input' && s.in === MLP_LAYERS[0][0]));
}

export function flopsPerSample(): number {
  let f = 0;
  MLP_LAYERS.forEach(([i, o], l) => (f += 2 * i * o * (l === 0 ? 2 : 3)));
  return f;
}

function batchList(value: string): number[] {
  return value.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${s} is not a positive integer`);
    return n;
  });
}

/** A python3 that imports numpy: the given one, else /usr/bin/python3 (Debian's, with the system BLAS), else python3. */
export function findNumpyPython(explicit?: string): string | undefined {
  return pythonWith('numpy', explicit);
}

export interface NumpyGemmLine {
  impl: 'numpy';
  blas: string;
  op: string;
  m: number;
  n: number;
  k: number;
  batch: number;
  GFLOPs: number;
}

/** Runs the numpy peer (single-threaded BLAS) on the MLP's products at these batch sizes. */
export function runNumpyGemm(py: string, batches: number[], seconds: number): NumpyGemmLine[] {
  const r = spawnSync(py, [peerPath('numpy_gemm.py'), String(seconds), batches.join(',')], {
    encoding: 'utf8',
    env: { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1' },
    maxBuffer: 1 << 22,
  });
  if (r.status !== 0) throw new Error(`the numpy GEMM peer failed: ${r.stderr.trim().split('\n').pop() ?? ''}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as NumpyGemmLine);
}

/** GFLOP/s over a whole training step's products: total FLOPs over the sum of their times. */
export function aggregate(lines: { op: string; m: number; n: number; k: number; GFLOPs: number }[]): number {
  let flops = 0;
  let seconds = 0;
  for (const l of lines) {
    const f = 2 * l.m * l.n * l.k;
    flops += f;
    seconds += f / (l.GFLOPs * 1e9);
  }
  return flops / seconds / 1e9;
}

const key = (s: { op: string; m: number; n: number; k: number }) => `${s.op}:${s.m}x${s.n}x${s.k}`;
const r2 = (x: number) => +x.toFixed(2);

/**
 * Adds `dtrain bench gemm`: GFLOP/s of dtrain's SGEMM on the reference MLP's products (forward
 * and both backward products of each layer at each batch size) at every SIMD level, beside
 * numpy's matmul on the system BLAS (single-threaded; OpenBLAS where libopenblas-dev is
 * installed) and the core's measured FMA peak, in one run.
 */
export function addBenchGemmCommand(bench: Command): void {
  bench
    .command('gemm')
    .description("SGEMM GFLOP/s on the reference MLP's shapes vs numpy/OpenBLAS (one thread) and the FMA peak")
    .option('--batches <B[,B...]>', 'batch sizes', batchList, [32, 64, 128, 256, 512])
    .option('--isa <levels>', 'only these levels (scalar, avx2, avx512)', (v) => v.split(','))
    .option('--min-time <seconds>', 'time each shape for at least this long', Number, 0.2)
    .option('--json', 'one JSON line per measurement')
    .option('--no-numpy', 'skip the numpy/BLAS peer')
    .option('--python <path>', 'python with numpy for the peer (default /usr/bin/python3)')
    .action((options: GemmBenchOptions) => {
      const native = loadBinding();
      const info = native.kernels.info();
      const levels = (options.isa ?? info.supported).map((l) => {
        if (!info.supported.includes(l as Isa)) throw new UsageError(`--isa: this CPU does not support ${l}`);
        return l as Isa;
      });
      const print = (line: object, text: string) => console.log(options.json ? JSON.stringify(line) : text);
      const peaks = new Map<Isa, number>();
      for (const isa of levels) {
        const p = native.nn.fmaPeak({ isa, seconds: 0.3 });
        peaks.set(isa, p.gflops);
        print(
          { kind: 'fma_peak', isa, GFLOPs: r2(p.gflops), clock_GHz: r2(p.clockGHz), fma_per_cycle: r2(p.fmaPerCycle), lanes: p.lanes },
          `FMA peak ${isa.padEnd(7)} ${p.gflops.toFixed(1)} GFLOP/s = ${p.fmaPerCycle.toFixed(2)} FMA/cycle x ${p.lanes} lanes x 2 x ${p.clockGHz.toFixed(2)} GHz`,
        );
      }
      const shapes = native.nn.gemmShapes(options.batches);
      const ours = new Map<string, { isa: Isa; GFLOPs: number }>();
      for (const s of shapes) {
        for (const isa of levels) {
          const gf = native.nn.benchGemm({ op: s.op, m: s.m, n: s.n, k: s.k, isa, seconds: options.minTime });
          const best = ours.get(key(s));
          if (!best || gf > best.GFLOPs) ours.set(key(s), { isa, GFLOPs: gf });
          print(
            { kind: 'gemm', impl: 'dtrain', isa, op: s.op, batch: s.batch, in: s.in, out: s.out, m: s.m, n: s.n, k: s.k, GFLOPs: r2(gf), peak_fraction: r2(gf / (peaks.get(isa) ?? NaN)) },
            `dtrain ${isa.padEnd(7)} ${s.op.padEnd(12)} batch ${String(s.batch).padStart(3)} ${s.in}->${s.out}  ${String(s.m).padStart(4)} x ${String(s.n).padStart(4)} x ${String(s.k).padStart(4)}  ${gf.toFixed(1).padStart(6)} GFLOP/s`,
          );
        }
      }
      let peer: NumpyGemmLine[] = [];
      const py = options.numpy ? findNumpyPython(options.python) : undefined;
      if (options.numpy && !py) print({ kind: 'note', note: 'numpy not found: no BLAS peer' }, 'numpy not found: no BLAS peer');
      if (py) {
        peer = runNumpyGemm(py, options.batches, options.minTime);
        for (const p of peer) {
          const o = ours.get(key(p));
          print(
            { kind: 'compare', op: p.op, batch: p.batch, m: p.m, n: p.n, k: p.k, dtrain_GFLOPs: r2(o?.GFLOPs ?? NaN), dtrain_isa: o?.isa, numpy_GFLOPs: p.GFLOPs, blas: p.blas, ratio: r2((o?.GFLOPs ?? NaN) / p.GFLOPs) },
            `numpy  ${p.op.padEnd(12)} batch ${String(p.batch).padStart(3)}  ${String(p.m).padStart(4)} x ${String(p.n).padStart(4)} x ${String(p.k).padStart(4)}  ${p.GFLOPs.toFixed(1).padStart(6)} GFLOP/s  dtrain/numpy ${((o?.GFLOPs ?? NaN) / p.GFLOPs).toFixed(2)}`,
          );
        }
      }
      // A training step's products together, per batch: what bounds samples/s.
      for (const b of options.batches) {
        const step = stepProducts(shapes.filter((s) => s.batch === b));
        const mine = aggregate(step.map((s) => ({ ...s, GFLOPs: ours.get(key(s))?.GFLOPs ?? NaN })));
        const theirs = peer.length ? aggregate(step.map((s) => peer.find((p) => key(p) === key(s)) ?? { ...s, GFLOPs: NaN })) : null;
        print(
          {
            kind: 'mlp_step',
            batch: b,
            flops_per_sample: flopsPerSample(),
            dtrain_GFLOPs: r2(mine),
            numpy_GFLOPs: theirs === null ? null : r2(theirs),
            ratio: theirs === null ? null : r2(mine / theirs),
            dtrain_bound_samples_per_s_per_core: Math.round((mine * 1e9) / flopsPerSample()),
          },
          `step products at batch ${String(b).padStart(3)}: dtrain ${mine.toFixed(1)} GFLOP/s` +
            (theirs === null ? '' : `, numpy ${theirs.toFixed(1)} (dtrain/numpy ${(mine / theirs).toFixed(2)})`) +
            `; ${Math.round((mine * 1e9) / flopsPerSample())} samples/s per core at most`,
        );
      }
    });
}
