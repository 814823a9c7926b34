/**
 * The reference model's native binding (native/napi/nn_wrap.cc) as the addon exports it under
 * `nn`. Only lib/nn/ and the benchmarks call it, after checking arguments.
 */
import type { Isa } from '../kernels/binding';

/** A row-major single-precision product, C = op(A) op(B) (+ C), with the fused epilogue. */
export interface NativeGemmArgs {
  m: number;
  n: number;
  k: number;
  a: Float32Array;
  lda: number;
  transA?: boolean;
  b: Float32Array;
  ldb: number;
  transB?: boolean;
  c: Float32Array;
  ldc: number;
  accumulate?: boolean;
  bias?: Float32Array | null;
  relu?: boolean;
  mask?: Float32Array | null;
  ldmask?: number;
  isa?: Isa;
}

/** One of the benchmark's products: a Linear layer's forward or backward at one batch size. */
export interface NativeGemmShape {
  op: 'forward' | 'grad_weight' | 'grad_input';
  m: number;
  n: number;
  k: number;
  batch: number;
  in: number;
  out: number;
}

/** What one core's FMA units retire (native/nn/gemm_bench.h). */
export interface NativeFmaPeak {
  gflops: number;
  fmaPerNs: number;
  clockGHz: number;
  fmaPerCycle: number;
  lanes: number;
}

export type Labels = Int32Array | Uint8Array;

export interface NnBinding {
  linearForward(x: Float32Array, w: Float32Array, b: Float32Array | null, y: Float32Array, batch: number, inFeatures: number, outFeatures: number, relu: boolean): void;
  linearGradWeight(x: Float32Array, dy: Float32Array, dw: Float32Array, batch: number, inFeatures: number, outFeatures: number, accumulate: boolean): void;
  linearGradBias(dy: Float32Array, db: Float32Array, batch: number, outFeatures: number, accumulate: boolean): void;
  linearGradInput(dy: Float32Array, w: Float32Array, dx: Float32Array, mask: Float32Array | null, batch: number, inFeatures: number, outFeatures: number): void;
  softmaxCrossEntropy(logits: Float32Array, labels: Labels, batch: number, classes: number, dlogits: Float32Array | null, scale: number): number;
  countCorrect(logits: Float32Array, labels: Labels, batch: number, classes: number): number;
  gatherRows(x: Uint8Array | Float32Array, count: number, indices: Int32Array, start: number, rows: number, features: number, scale: number, dst: Float32Array): void;
  reluForward(x: Float32Array, y: Float32Array, n: number): void;
  reluBackward(dy: Float32Array, y: Float32Array, dx: Float32Array, n: number): void;
  nonFinite(x: Float32Array, n: number): boolean;
  gemm(args: NativeGemmArgs): void;
  gemmShapes(batches: number[]): NativeGemmShape[];
  benchGemm(args: { op: string; m: number; n: number; k: number; isa?: Isa; seconds: number }): number;
  fmaPeak(args: { isa?: Isa; seconds: number }): NativeFmaPeak;
}
