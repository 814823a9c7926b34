/**
 * dtrain: distributed data-parallel training for Node.js.
 *
 * @example
 * ```js
 * const dtrain = require('dtrain');
 * await dtrain.init();
 * const grad = new Float32Array(1024).fill(dtrain.rank());
 * await dtrain.allreduce(grad, { op: 'avg' });
 * await dtrain.shutdown();
 * ```
 */
export {
  init,
  rank,
  size,
  localRank,
  localSize,
  allreduce,
  allreduceSync,
  broadcast,
  broadcastSync,
  allgather,
  allgatherSync,
  reduceScatter,
  reduceScatterSync,
  barrier,
  barrierSync,
  groupedAllreduce,
  groupedAllreduceSync,
  reduce,
  reduceSync,
  gather,
  gatherSync,
  scatter,
  scatterSync,
  alltoall,
  alltoallSync,
  send,
  sendSync,
  recv,
  recvSync,
  broadcastObject,
  broadcastObjectSync,
  allgatherObject,
  allgatherObjectSync,
  join,
  joinSync,
  newGroup,
  shutdown,
} from './comm/world';
export { alloc } from './comm/alloc';
export type { AllocTypes } from './comm/alloc';
export { Communicator } from './comm/communicator';
export { DtrainError, ERROR_CODES } from './common/errors';
export type { DtrainErrorCode, ErrorCodeInfo } from './common/errors';
export type {
  AlgorithmName,
  AllgatherOptions,
  AllreduceOptions,
  AlltoallOptions,
  GatherOptions,
  NewGroupOptions,
  PointToPointOptions,
  ReduceOptions,
  ScatterOptions,
  ReduceScatterOptions,
  BroadcastOptions,
  CallOptions,
  CommArray,
  DType,
  InitOptions,
  ReduceOp,
} from './comm/types';
export * as kernels from './kernels';
export * as nn from './nn';
export * as optim from './optim';
export * as data from './data';
export * as compress from './compress';
export * as amp from './amp';
export * as ps from './ps';
export * as elastic from './elastic';
export * as cuda from './cuda';
export {
  DistributedOptimizer,
  broadcastParameters,
  broadcastOptimizerState,
  Trainer,
  DEFAULT_FUSION_THRESHOLD,
} from './train';
export type {
  DistributedOptimizerOptions,
  CommStats,
  TrainerOptions,
  TrainableModel,
  EpochMetrics,
  TrainSummary,
} from './train';
export type { Parameter } from './common/parameter';
export { getCommunicator } from './comm/world';
