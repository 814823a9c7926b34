export { DistributedOptimizer, DEFAULT_FUSION_THRESHOLD } from './distributed-optimizer';
export type { DistributedOptimizerOptions, CommStats } from './distributed-optimizer';
export { broadcastParameters, broadcastOptimizerState } from './broadcast';
export { Trainer } from './trainer';
export type { TrainerOptions, TrainableModel, EpochMetrics, TrainSummary, EvalPoint } from './trainer';
export { saveCheckpoint, loadCheckpoint, saveCheckpointFile, loadCheckpointFile, serializeCheckpoint, deserializeCheckpoint, CHECKPOINT_FILE } from './checkpoint';
