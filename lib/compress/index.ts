/**
 * `dtrain.compress`: how gradient buckets travel between workers. `none` (float32 all-reduce)
 * now; fp16, DGC and the quantizers implement the same {@link Compressor} interface.
 */
export { NoCompression, compressorNames, makeCompressor } from './compressor';
export type { Compressor, GradientBucket } from './compressor';
