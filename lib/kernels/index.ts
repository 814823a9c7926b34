/**
 * `dtrain.kernels`: the native CPU kernels on TypedArrays, at the best SIMD level of this CPU
 * (scalar, AVX2 or AVX-512, chosen at run time; `DTRAIN_ISA` forces one). Contracts in each
 * function's documentation and in docs/kernels.md.
 *
 * @example
 * ```js
 * const { kernels } = require('dtrain');
 * const h = kernels.castToHalf(grad, { scale: 1024 });          // loss-scaled float16
 * const { out, nonFinite } = kernels.castFromHalf(h, { scale: 1 / 1024 });
 * ```
 */
import { loadBinding } from '../native';
import type { KernelsInfo } from './binding';

export type { Isa, KernelsInfo } from './binding';
export { castToHalf, castToBFloat16, castFromHalf, castFromBFloat16 } from './casts';
export type { CastToHalfOptions, CastFromHalfOptions, CastFromHalfResult } from './casts';
export { reduce } from './reduce';
export type { KernelDType, ReduceOptions } from './reduce';
export type { DType } from '../common/constants';
export { sgdStep, larsStep } from './optim';
export type { OptimizerTensor, StepOptions, SgdStepOptions, LarsStepOptions, LarsStepResult } from './optim';
export { topk, dgcStep, dgcDecode } from './sparse';
export type { TopkResult, DgcState, DgcOptions, DgcResult, SparseGradient } from './sparse';
export {
  qsgdEncode,
  qsgdDecode,
  qsgdPlaneCount,
  qsgdCodeBytes,
  ternGradEncode,
  ternGradDecode,
  signEncode,
  signDecode,
} from './quantize';
export type { QsgdEncodeOptions, QsgdCode, DecodeOptions, TernCode, SignCode } from './quantize';

/** Which instruction-set level the kernels run at on this CPU, and which it supports. */
export function info(): KernelsInfo {
  return loadBinding().kernels.info();
}
