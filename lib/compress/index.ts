/**
 * `dtrain.compress`: how gradient buckets travel between workers, by name in the
 * DistributedOptimizer's `compression` option or as an instance with settings:
 * `none` (float32 all-reduce), `fp16` (float16 all-reduce, half the bytes), `dgc` (Deep
 * Gradient Compression), `qsgd`, `terngrad` and `onebit` (quantizers, exchanged packed by
 * all-gather). All implement {@link Compressor}. docs/experiments.md has what each costs in
 * accuracy and saves in bytes.
 */
export { NoCompression, compressorConfig } from './compressor';
export type { Compressor, GradientBucket } from './compressor';
export { compressorNames, makeCompressor } from './registry';
export { Fp16Compression } from './fp16';
export { DGC, DGC_WARMUP } from './dgc';
export type { DGCOptions } from './dgc';
export { QSGD } from './qsgd';
export type { QSGDOptions } from './qsgd';
export { TernGrad } from './terngrad';
export type { TernGradOptions } from './terngrad';
export { OneBit } from './onebit';
export type { OneBitOptions } from './onebit';
export { PackedCompressor } from './packed';
