/**
 * `dtrain.data`: Fashion-MNIST / MNIST from idx files, a DistributedSampler with torch's
 * semantics, and a batch loader that allocates nothing per step.
 */
export { readIdx, writeIdx } from './idx';
export type { IdxArray } from './idx';
export { loadFashionMnist, loadMnistSplit, fashionMnistDirs, SLICE_DIR } from './fashion-mnist';
export type { FashionMnist } from './fashion-mnist';
export { DistributedSampler, ElasticSampler } from './sampler';
export type { DistributedSamplerOptions } from './sampler';
export { BatchLoader } from './batches';
export type { Batch } from './batches';
export { checkDataset } from './dataset';
export type { Dataset } from './dataset';
