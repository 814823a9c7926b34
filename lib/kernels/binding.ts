/**
 * The native kernels' binding (native/napi/kernels_wrap.cc) as the addon exports it under
 * `kernels`. Only lib/kernels/ calls it, after checking arguments.
 */

/** The instruction-set levels of the CPU kernels. */
export type Isa = 'scalar' | 'avx2' | 'avx512';

/** Which level the kernels use, and why. */
export interface KernelsInfo {
  /** The level in use; null when DTRAIN_ISA names one this CPU lacks (see `error`). */
  isa: Isa | null;
  /** The best level this CPU supports. */
  best: Isa;
  /** Every level this CPU supports. */
  supported: Isa[];
  /** The forced level's name (DTRAIN_ISA), if one was forced. */
  forced: string | null;
  error?: string;
}

/** One tensor of a multi-tensor optimizer step, as the binding takes it. */
export interface NativeTensorSlot {
  weights: Float32Array;
  grad: Float32Array | Uint16Array;
  state: Float32Array;
  weights16?: Uint16Array;
  exclude?: boolean;
}

/** One benchmark measurement. */
export interface NativeBenchResult {
  kernel: string;
  bytesMoved: number;
  seconds: number;
  GBs: number;
}

/** The kernels' option defaults, as the C++ option structs define them (kernels/params.h). */
export interface KernelDefaults {
  sgd: { momentum: number; weightDecay: number; gradScale: number; nesterov: boolean; checkFinite: boolean };
  lars: { momentum: number; weightDecay: number; eta: number; gradScale: number; checkFinite: boolean };
  dgc: { momentum: number; density: number; sampleRatio: number; maxRounds: number };
}

export interface KernelsBinding {
  info(): KernelsInfo;
  /** Forces the SIMD level before the first kernel runs; `source` names it in errors. */
  forceIsa(name: string, source: string): void;
  defaults: KernelDefaults;
  castToHalf(src: Float32Array, out: Uint16Array, scale: number, bf16: boolean): void;
  sumSquares(x: Float32Array): number;
  castFromHalf(src: Uint16Array, out: Float32Array, scale: number, bf16: boolean): boolean;
  reduce(dtype: number, op: number, dst: ArrayBufferView, src: ArrayBufferView): void;
  sgdStep(
    tensors: NativeTensorSlot[],
    opts: {
      lr: number;
      momentum: number;
      weightDecay: number;
      gradScale: number;
      nesterov: boolean;
      gradHalf: boolean;
      checkFinite: boolean;
    },
  ): boolean;
  larsStep(
    tensors: NativeTensorSlot[],
    opts: {
      lr: number;
      momentum: number;
      weightDecay: number;
      eta: number;
      gradScale: number;
      gradHalf: boolean;
      checkFinite: boolean;
    },
    trust: Float32Array,
  ): boolean;
  dgcStep(
    u: Float32Array,
    v: Float32Array,
    grad: Float32Array,
    indices: Uint32Array,
    values: Float32Array | Uint16Array,
    half: boolean,
    opts: { momentum: number; density: number; sampleRatio: number; seed: number; maxRounds: number },
  ): { count: number; threshold: number; rounds: number };
  scatterAdd(
    dense: Float32Array,
    indices: Uint32Array,
    values: Float32Array | Uint16Array,
    half: boolean,
    count: number,
  ): void;
  topk(x: Float32Array, k: number, indices: Uint32Array, values: Float32Array): void;
  qsgdEncode(x: Float32Array, levels: number, seed: number, code: Uint8Array, norm: number): number;
  qsgdDecode(code: Uint8Array, levels: number, norm: number, out: Float32Array, accumulate: boolean): void;
  ternGradEncode(x: Float32Array, seed: number, code: Uint8Array): number;
  ternGradDecode(code: Uint8Array, scale: number, out: Float32Array, accumulate: boolean): void;
  qsgdEncodeChunks(x: Float32Array, levels: number, seed: number, chunk: number, code: Uint8Array, norms: Float32Array): void;
  qsgdDecodeChunks(code: Uint8Array, levels: number, chunk: number, norms: Float32Array, out: Float32Array, accumulate: boolean): void;
  ternGradEncodeChunks(x: Float32Array, seed: number, chunk: number, code: Uint8Array, scales: Float32Array): void;
  ternGradDecodeChunks(code: Uint8Array, chunk: number, scales: Float32Array, out: Float32Array, accumulate: boolean): void;
  signEncodeChunks(grad: Float32Array, residual: Float32Array, chunk: number, code: Uint8Array, scales: Float32Array): void;
  signDecodeChunks(code: Uint8Array, chunk: number, scales: Float32Array, out: Float32Array, accumulate: boolean): void;
  signEncode(grad: Float32Array, residual: Float32Array, code: Uint8Array): number;
  signDecode(code: Uint8Array, scale: number, out: Float32Array, accumulate: boolean): void;
  bench(kernel: string, isa: Isa | null, bytes: number, minSeconds: number): NativeBenchResult;
  benchNames(): string[];
}
