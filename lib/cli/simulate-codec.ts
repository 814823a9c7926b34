import {
  castFromHalf,
  castToHalf,
  dgcDecode,
  dgcStep,
  qsgdDecode,
  qsgdEncode,
  signDecode,
  signEncode,
  ternGradDecode,
  ternGradEncode,
} from '../kernels';
import { dgcPairs, DEFAULT_DGC_DENSITY, DEFAULT_QSGD_LEVELS, type WireFormat } from './simulate-formats';

/**
 * What compressing costs one rank per step, besides the network: encoding its own gradients
 * once, and decoding blocks. fp16 decodes one block (the summed vector); the all-gather formats
 * decode every rank's block, its own included, accumulating into one dense vector, so their
 * decode grows with P.
 */
export interface CodecCost {
  encodeMs: number;
  /** One block. */
  decodeMs: number;
  /** Whether a step decodes one block per rank (all-gather) or one in all. */
  decodePerRank: boolean;
}

const NONE: CodecCost = { encodeMs: 0, decodeMs: 0, decodePerRank: false };

/** The best of at least 3 runs and 0.1 s (at most 20 runs), after one untimed run, in ms. */
function bestMs(fn: () => void): number {
  fn();
  let best = Infinity;
  let total = 0;
  for (let i = 0; i < 20 && (i < 3 || total < 100); i++) {
    const t0 = process.hrtime.bigint();
    fn();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    best = Math.min(best, ms);
    total += ms;
  }
  return best;
}

/** n gradient-like values: a fixed-seed sum of uniforms, roughly normal, scale 0.01. */
function syntheticGradient(n: number): Float32Array {
  const g = new Float32Array(n);
  let s = 12345;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5;
  for (let i = 0; i < n; i++) g[i] = (u() + u() + u()) * 0.01;
  return g;
}

/**
 * Times this machine's dtrain.kernels encoders and decoders (the ones the compressors run) on n
 * synthetic gradients in one tensor.
 */
export function measureCodec(f: WireFormat, n: number): CodecCost {
  if (f.kind === 'none') return NONE;
  const grad = syntheticGradient(n);
  const dense = new Float32Array(n);
  switch (f.kind) {
    case 'fp16': {
      const half = castToHalf(grad);
      return {
        encodeMs: bestMs(() => castToHalf(grad, { out: half })),
        decodeMs: bestMs(() => castFromHalf(half, { out: dense })),
        decodePerRank: false,
      };
    }
    case 'dgc': {
      const state = { u: new Float32Array(n), v: new Float32Array(n) };
      const density = f.density ?? DEFAULT_DGC_DENSITY;
      let part = dgcStep(state, grad, { density, seed: 1 });
      return {
        encodeMs: bestMs(() => (part = dgcStep(state, grad, { density, seed: 1 }))),
        decodeMs: bestMs(() => dgcDecode(dense, [part])),
        decodePerRank: true,
      };
    }
    case 'qsgd': {
      const levels = f.levels ?? DEFAULT_QSGD_LEVELS;
      const q = qsgdEncode(grad, { levels, seed: 1 });
      return {
        encodeMs: bestMs(() => qsgdEncode(grad, { levels, seed: 1, out: q.code })),
        decodeMs: bestMs(() => qsgdDecode(q, { out: dense, accumulate: true })),
        decodePerRank: true,
      };
    }
    case 'terngrad': {
      const t = ternGradEncode(grad, { seed: 1 });
      return {
        encodeMs: bestMs(() => ternGradEncode(grad, { seed: 1, out: t.code })),
        decodeMs: bestMs(() => ternGradDecode(t, { out: dense, accumulate: true })),
        decodePerRank: true,
      };
    }
    case 'onebit': {
      const residual = new Float32Array(n);
      const c = signEncode(grad, residual);
      return {
        encodeMs: bestMs(() => signEncode(grad, residual, { out: c.code })),
        decodeMs: bestMs(() => signDecode(c, { out: dense, accumulate: true })),
        decodePerRank: true,
      };
    }
  }
}

/**
 * The decode cost at a given speed, `gbps` GB/s of float32 written (or added to) per block: n
 * elements for the dense codes and fp16, the pairs for dgc. Encoding is left out (0).
 */
export function modelledCodec(f: WireFormat, n: number, gbps: number): CodecCost {
  if (f.kind === 'none') return NONE;
  const out = f.kind === 'dgc' ? dgcPairs(n, f.density ?? DEFAULT_DGC_DENSITY) : n;
  return { encodeMs: 0, decodeMs: ((4 * out) / (gbps * 1e9)) * 1e3, decodePerRank: f.kind !== 'fp16' };
}

/** Decode and encode left out. */
export function noCodec(): CodecCost {
  return NONE;
}
