/**
 * `dtrain.nn`: the reference model (Linear, ReLU, Sequential), with forward and backward in
 * native code. Its parameters are plain {@link Parameter}s, so optim/ and the
 * DistributedOptimizer never see this module.
 */
export { Linear, ReLU } from './layers';
export type { LinearOptions } from './layers';
export { Sequential } from './sequential';
export type { Layer, LossAndGradOptions } from './sequential';
export type { Precision } from './precision';
export type { Parameter } from '../common/parameter';
