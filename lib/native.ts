/**
 * The one place that loads the native addon and types its exports; nothing else in the
 * package touches `node-gyp-build` or sees an untyped binding.
 */
import * as path from 'path';
import type { KernelsBinding } from './kernels/binding';
import type { NnBinding } from './nn/binding';

/** Configuration the native communicator is created with (see lib/comm/config.ts). */
export interface NativeCommConfig {
  rank: number;
  size: number;
  store: string;
  token: string;
  jobId: string;
  transport: 'shm' | 'tcp';
  tcpAddr: string;
  shmChannelBytes: number;
  localSizeOverride: number;
  timeoutSec: number;
  bootstrapTimeoutSec: number;
  generation: number;
}

/** Arrays the collectives accept; a Uint16Array holds float16 or bfloat16 bits (option `dtype`). */
export type CommArray = Float32Array | Float64Array | Int32Array | Uint16Array;

/**
 * The native `Communicator`; every collective's last argument chooses sync (true) or async, and
 * the one before it is the element type's DType value (0 float32, 1 float64, 2 int32, 3 float16,
 * 4 bfloat16), or -1 for the array's own.
 */
export interface NativeCommunicator {
  ready(): Promise<void>;
  allreduce(buf: CommArray, op: number, algorithm: number, timeoutSec: number, dtype: number, sync: false): Promise<void>;
  allreduce(buf: CommArray, op: number, algorithm: number, timeoutSec: number, dtype: number, sync: true): void;
  broadcast(buf: CommArray, root: number, timeoutSec: number, dtype: number, sync: false): Promise<void>;
  broadcast(buf: CommArray, root: number, timeoutSec: number, dtype: number, sync: true): void;
  allgather(input: CommArray, output: CommArray, algorithm: number, timeoutSec: number, dtype: number, sync: false): Promise<void>;
  allgather(input: CommArray, output: CommArray, algorithm: number, timeoutSec: number, dtype: number, sync: true): void;
  reduceScatter(buf: CommArray, op: number, algorithm: number, timeoutSec: number, dtype: number, sync: false): Promise<void>;
  reduceScatter(buf: CommArray, op: number, algorithm: number, timeoutSec: number, dtype: number, sync: true): void;
  barrier(timeoutSec: number, sync: false): Promise<void>;
  barrier(timeoutSec: number, sync: true): void;
  shutdown(): Promise<void>;
  readonly rank: number;
  readonly size: number;
  readonly localRank: number;
  readonly localSize: number;
  readonly transport: string;
  /** Bytes sent by this rank's transport for collectives so far (data and descriptors). */
  readonly bytesSent: number;
}

/** Whether an optional runtime library is usable, and if not, why. */
export interface LibraryStatus {
  usable: boolean;
  library?: string;
  reason?: string;
}

/** What the addon knows about this machine. */
export interface NativeInfo {
  simd: string;
  transports: string[];
  algorithms: string[];
  cuda: LibraryStatus;
  nccl: LibraryStatus;
  mpi: LibraryStatus;
}

/** Parameters of the alpha-beta-gamma model, in seconds, seconds per byte, seconds per byte. */
export interface CostModel {
  alpha: number;
  beta: number;
  gamma: number;
}

/** What `simulate` predicts for one all-reduce (the JSON `dtrain simulate --json` prints). */
export interface SimulationResult {
  algo: string;
  np: number;
  bytes: number;
  steps: number;
  max_bytes_sent_per_rank: number;
  idle_ranks: number;
  predicted_s: number;
  formula_s: number | null;
  model: CostModel;
  hosts?: number;
}

/** The addon's exports. */
export interface Binding {
  Communicator: new (config: NativeCommConfig) => NativeCommunicator;
  nativeInfo(): NativeInfo;
  algorithmId(name: string): number;
  simulate(
    options: { algorithm: string; np: number; bytes: number; hosts?: number; alphaIntra?: number; betaIntra?: number } & Partial<CostModel>,
  ): SimulationResult;
  costModel(transport: string): CostModel;
  measureReduce(bytes: number): number;
  /** The CPU kernels (lib/kernels/). */
  kernels: KernelsBinding;
  /** The reference model's layers and the GEMM (lib/nn/). */
  nn: NnBinding;
}

let binding: Binding | undefined;

/**
 * Loads the addon: a prebuilt binary from `prebuilds/` when one matches this platform, else
 * the one built from source in `build/Release`. Throws one error that says what to do.
 */
export function loadBinding(): Binding {
  if (binding) return binding;
  const root = path.join(__dirname, '..');
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const load = require('node-gyp-build') as (dir: string) => unknown;
    binding = load(root) as Binding;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(
      `dtrain: could not load the native addon (${why}). Looked in ${root}/prebuilds and ` +
        `${root}/build/Release. Prebuilt binaries exist for linux-x64; elsewhere build from ` +
        'source with `npm run build:native` (needs python3, make and a C++17 compiler).',
    );
  }
  return binding;
}
