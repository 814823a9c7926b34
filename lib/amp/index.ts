/**
 * `dtrain.amp`: mixed precision. {@link LossScaler} is dynamic loss scaling with
 * torch.cuda.amp.GradScaler's semantics; the model side is `nn.Sequential`'s `precision`
 * (float16 or bfloat16 activations and gradients over float32 master weights), and the
 * DistributedOptimizer's `lossScaler` option unscales inside the fused step and skips a step
 * on every rank when any rank overflowed.
 */
export { LossScaler } from './loss-scaler';
export type { LossScalerOptions, LossScalerState } from './loss-scaler';
