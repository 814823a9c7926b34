/**
 * `dtrain.optim`: SGD and LARS over plain {@link Parameter}s, each step one fused multi-tensor
 * native call, and learning-rate schedules (`optim.schedules`).
 */
export { SGD } from './sgd';
export type { SGDOptions } from './sgd';
export { LARS } from './lars';
export type { LARSOptions, LarsExclude } from './lars';
export type { Optimizer, OptimizerStateDict, OptimizerStepOptions } from './optimizer';
export * as schedules from './schedules';
export type { Schedule } from './schedules';
