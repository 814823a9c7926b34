/**
 * The one place that loads the native addon and types its exports; nothing else in the
 * package touches `node-gyp-build` or sees an untyped binding. The addon exports its registries
 * and constants (native/napi/registry_wrap.cc), and the rest of the TypeScript layer derives its
 * maps from them, so no enum is copied by hand.
 */
import * as path from 'path';
import { DtrainError } from './common/errors';
import { isaFromEnv } from './comm/config';
import type { KernelsBinding } from './kernels/binding';
import type { NnBinding } from './nn/binding';

/** The shape of the binding this TypeScript expects; the addon reports its own at load. */
export const ABI_VERSION = 6;

/** A transport's cost model, or a calibrated one (lib/comm/config.ts). */
export interface CostModel {
  /** Seconds per message. */
  alpha: number;
  /** Seconds per byte sent. */
  beta: number;
  /** Seconds per byte reduced. */
  gamma: number;
}

/** Configuration the native communicator is created with (see lib/comm/config.ts). */
export interface NativeCommConfig {
  rank: number;
  size: number;
  store: string;
  token: string;
  jobId: string;
  /** A registered transport's name, or `auto`. */
  transport: string;
  tcpAddr: string;
  shmChannelBytes: number;
  /** Polls before a waiting rank sleeps; -1 adapts. */
  shmSpin: number;
  /** A group's hint: ranks of the whole job on this host (0: the group's own). */
  hostRanks?: number;
  localSizeOverride: number;
  /** DTRAIN_HOST: this rank's host as the launcher names it; '' = the system's host name. */
  hostName?: string;
  timeoutSec: number;
  bootstrapTimeoutSec: number;
  generation: number;
  /** Namespaces the rendezvous keys and shared memory: `c<generation>/`, a group's `<parent>g<k>/`. */
  prefix: string;
  /** DTRAIN_DEBUG: 0 off, 1 INFO, 2 DETAIL. */
  debug: number;
  /** DTRAIN_STALL_WARN: seconds a call waits before each stall line; 0 never. */
  stallWarnSec: number;
  /** How debug lines name this rank: `rank 3`, `rank 0 of group c0/g1/`. */
  logName: string;
  /** `auto`'s cost model by transport name; a transport not listed uses its default. */
  costModels: Record<string, CostModel>;
  /** Tests only: stall this long before every all-reduce's data phase. 0: never. */
  testStallMs: number;
  testNoPeerMaps?: number;
  /** Async calls of at most this many bytes may run on the JS thread when the engine is idle. */
  inlineBytes?: number;
  eagerBytes?: number;
  /** 1: record each call's phases for the timeline. */
  timeline?: number;
  /** JS only (the addon ignores it): where this rank writes the timeline, and its size cap. */
  timelineFile?: string;
  timelineMaxBytes?: number;
  /** The launcher merges the parts (else the rank converts its own file at exit). */
  timelineMerged?: boolean;
  /** JS only: the rank of this process in the whole job (the timeline's pid). */
  jobRank?: number;
}

/**
 * Arrays the collectives accept, over an ArrayBuffer or a SharedArrayBuffer; a Uint16Array holds
 * float16 or bfloat16 bits (option `dtype`), a BigInt64Array int64.
 */
export type CommArray =
  | Float32Array
  | Float64Array
  | Int32Array
  | Uint16Array
  | Uint8Array
  | Int8Array
  | BigInt64Array;

/**
 * One collective call. `kind` and the numbers are the values in {@link Registry.constants};
 * `algorithm` is an `algorithmId`; `dtype` -1 means the array's own.
 */
export interface CollectiveRequest {
  kind: number;
  /** The buffer (all-gather, gather, all-to-all: the input); a grouped all-reduce's arrays. Absent for a barrier. */
  buf?: CommArray | CommArray[] | NativeDeviceMemory;
  /** All-gather's, gather's (root) and all-to-all's output; scatter's send buffer (root). */
  output?: CommArray | NativeDeviceMemory;
  /** Device buffers only: the CUDA stream whose queued work the call waits for. */
  stream?: object;
  /** All-to-all's splits, when they vary. */
  sendCounts?: Float64Array;
  recvCounts?: Float64Array;
  /** send: the receiver; recv: the sender. */
  peer?: number;
  tag?: number;
  op?: number;
  algorithm?: number;
  root?: number;
  /** 0: the communicator's default. */
  timeoutSec: number;
  dtype?: number;
  /** Block the calling thread (true) or return a Promise. */
  sync: boolean;
}

/** The request's numeric fields: what the addon's request slot holds (native/napi/request.h). */
type RequestNumber = Exclude<keyof CollectiveRequest, 'buf' | 'output' | 'sendCounts' | 'recvCounts' | 'stream'>;

/** What a native communicator tells about itself once ready. */
interface CommunicatorFacts {
  readonly rank: number;
  readonly size: number;
  readonly localRank: number;
  readonly localSize: number;
  readonly transport: string;
  /** Why `auto` chose the transport; empty when it was named. */
  readonly transportReason: string;
  /** The all-reduce algorithms `auto` considers for this job, in the order it tries them. */
  readonly autoCandidates: string[];
  /** Bytes sent by this rank's transport for collectives so far (data and descriptors). */
  readonly bytesSent: number;
  /** All-reduces this rank answered while joined (join()), over the communicator's life. */
  readonly joinAnswered: number;
  /** The timeline events recorded since the last call (9 numbers each), or null without a timeline. */
  drainTimeline(): { events: Float64Array; dropped: number; algorithms: Record<string, string> } | null;
}

/** The native `Communicator`, as the addon exports it. */
interface AddonCommunicator extends CommunicatorFacts {
  ready(): Promise<void>;
  /** Runs the collective whose fields are in `requestSlot`. */
  run(
    buf?: CommArray | CommArray[] | NativeDeviceMemory,
    other?: CommArray | NativeDeviceMemory,
    sendCounts?: Float64Array | object,
    recvCounts?: Float64Array,
  ): Promise<void> | undefined;
  /** One float64 per entry of `registry.requestFields`, read by `run`. */
  readonly requestSlot: Float64Array;
  shutdown(): Promise<void>;
}

/** A native communicator with the request-object API the TypeScript layer uses. */
export interface NativeCommunicator extends CommunicatorFacts {
  ready(): Promise<void>;
  /** Runs one collective: a Promise when `request.sync` is false, else blocks and returns nothing. */
  run(request: CollectiveRequest): Promise<void> | undefined;
  shutdown(): Promise<void>;
}

/** Whether an optional runtime library is usable, and if not, why. */
export interface LibraryStatus {
  usable: boolean;
  library?: string;
  reason?: string;
}

/** The collectives that take an algorithm, as the binding names them. */
export type AlgorithmCollective =
  | 'allreduce'
  | 'reduceScatter'
  | 'allgather'
  | 'broadcast'
  | 'reduce'
  | 'gather'
  | 'scatter'
  | 'alltoall';

/** What the addon knows about this machine, for `dtrain info`. */
export interface NativeInfo {
  simd: string;
  transports: string[];
  /** The names all-reduce accepts. */
  algorithms: string[];
  /** The names each collective accepts. */
  collectives: Record<AlgorithmCollective, string[]>;
  /** What `auto` chooses among: all-reduce algorithms it simulates, transports it may pick. */
  auto: { allreduce: string[]; transport: string[] };
  backends: string[];
  cuda: LibraryStatus;
  nccl: LibraryStatus;
  mpi: LibraryStatus;
}

/** One entry of the algorithm registry (native/sched/algorithm_list.def). */
export interface AlgorithmEntry {
  name: string;
  summary: string;
  collectives: AlgorithmCollective[];
  /** Collectives it runs only on a power-of-two number of ranks. */
  powerOfTwoOnly: AlgorithmCollective[];
  /** Written `name:<inner>`, with another all-reduce algorithm inside. */
  takesInner: boolean;
  /** Whether `auto` simulates it as an all-reduce candidate. */
  auto: boolean;
  closedForm: boolean;
  /** The whole-collective backend that runs it instead of a schedule (`mpi`), or null. */
  backend: string | null;
}

/** One entry of the transport registry (native/transport/transport_list.def). */
export interface TransportEntry {
  name: string;
  summary: string;
  /** Whether `auto` may pick it. */
  auto: boolean;
  defaultCostModel: CostModel;
}

/** The registries and constants the addon exports. */
export interface Registry {
  abiVersion: number;
  constants: {
    dtypes: Record<string, number>;
    reduceOps: Record<string, number>;
    opKinds: Record<string, number>;
    errorCodes: string[];
  };
  /** The request slot's fields, in order (native/napi/request.h). */
  requestFields: string[];
  algorithms: AlgorithmEntry[];
  algorithmNames: Record<AlgorithmCollective, string[]>;
  transports: TransportEntry[];
  backends: Array<{ name: string; summary: string }>;
}

/** What `simulate` predicts for one all-reduce (or all-gather). */
export interface SimulationResult {
  algorithm: string;
  collective: AlgorithmCollective;
  np: number;
  /** All-reduce: the vector; all-gather: what each rank contributes. */
  bytes: number;
  steps: number;
  maxBytesSentPerRank: number;
  idleRanks: number;
  predictedS: number;
  /** The closed form, or null where there is none (or the model has two kinds of link). */
  formulaS: number | null;
  model: CostModel & { alphaIntra?: number; betaIntra?: number };
  hosts?: number;
}

/** The addon's exports. */
/** The MPI plugin's loader (native/napi/mpi_wrap.cc); used by init() under mpirun. */
export interface MpiBinding {
  /** dlopen()s the plugin; throws ERR_DTRAIN_BOOTSTRAP saying why it cannot be used. */
  load(path: string): void;
  /** MPI_Init_thread, once. */
  init(): { rank: number; size: number; localRank: number; localSize: number; version: string };
  /** MPI_Bcast of the bytes in place (blocking). */
  bcastBytes(bytes: Uint8Array, root: number): void;
  /** MPI_Finalize, if MPI was initialized. */
  finalize(): void;
}

/** What the CUDA runtime and NCCL probes found (native/gpu/cuda_api.h). */
export interface GpuLibraryInfo {
  usable: boolean;
  library: string | null;
  tried: string[];
  reason: string;
}

/** The CUDA runtime and NCCL, loaded at run time (native/napi/cuda_wrap.cc). */
export interface CudaBinding {
  probe(): {
    cuda: GpuLibraryInfo & { devices: number; runtimeVersion: number; driverVersion: number };
    nccl: GpuLibraryInfo & { version: number };
    /** libdtrain_cuda.so as loaded in this process (loadKernels). */
    kernels: { loaded: boolean; library: string | null; reason: string };
  };
  deviceCount(): number;
  /** cudaMalloc'ed memory; throws ERR_DTRAIN_NO_GPU without a device. */
  DeviceMemory: new (bytes: number, device: number) => NativeDeviceMemory;
  /** A non-blocking CUDA stream of one device. */
  Stream: new (device: number) => { readonly device: number; synchronize(): void; query(): boolean; destroy(): void };
  /** Loads libdtrain_cuda.so (once); returns what it says of itself, or throws ERR_DTRAIN_NO_GPU. */
  loadKernels(path: string): string;
  castToHalf(src: NativeDeviceMemory, dst: NativeDeviceMemory, n: number, scale: number, bfloat16: boolean, stream?: object): void;
  /** Returns whether any output is inf or NaN (synchronizes the stream). */
  castFromHalf(src: NativeDeviceMemory, dst: NativeDeviceMemory, n: number, scale: number, bfloat16: boolean, stream?: object): boolean;
  reduce(dtype: number, op: number, dst: NativeDeviceMemory, src: NativeDeviceMemory, n: number, stream?: object): void;
  scale(dtype: number, dst: NativeDeviceMemory, n: number, divisor: number, stream?: object): void;
  sgdStep(options: object, tensors: object[], stream?: object): void;
  larsStep(options: object, tensors: object[], stream?: object): void;
  qsgdEncode(x: NativeDeviceMemory, code: NativeDeviceMemory, n: number, levels: number, seed: number, norm: number, stream?: object): number;
  qsgdDecode(code: NativeDeviceMemory, out: NativeDeviceMemory, n: number, levels: number, norm: number, accumulate: boolean, stream?: object): void;
  ternGradEncode(x: NativeDeviceMemory, code: NativeDeviceMemory, n: number, seed: number, stream?: object): number;
  ternGradDecode(code: NativeDeviceMemory, out: NativeDeviceMemory, n: number, scale: number, accumulate: boolean, stream?: object): void;
  signEncode(grad: NativeDeviceMemory, residual: NativeDeviceMemory, code: NativeDeviceMemory, n: number, stream?: object): number;
  signDecode(code: NativeDeviceMemory, out: NativeDeviceMemory, n: number, scale: number, accumulate: boolean, stream?: object): void;
  dgcStep(u: NativeDeviceMemory, v: NativeDeviceMemory, g: NativeDeviceMemory, n: number, options: object, idx: NativeDeviceMemory, values: NativeDeviceMemory, half: boolean, stream?: object): number;
  scatterAdd(dense: NativeDeviceMemory, idx: NativeDeviceMemory, values: NativeDeviceMemory, count: number, half: boolean, stream?: object): void;
}

/** Device memory as the binding holds it (lib/cuda's DeviceBuffer wraps it). */
export interface NativeDeviceMemory {
  readonly bytes: number;
  readonly device: number;
  upload(src: ArrayBufferView, offsetBytes: number): void;
  download(dst: ArrayBufferView, offsetBytes: number): void;
  /** Device to device: `bytes` of `src` from srcOffset to this buffer at dstOffset. */
  copyDevice(src: NativeDeviceMemory, srcOffsetBytes: number, dstOffsetBytes: number, bytes: number): void;
  free(): void;
}

interface AddonExports {
  Communicator: new (config: NativeCommConfig) => AddonCommunicator;
  mpi: MpiBinding;
  cuda: CudaBinding;
  registry: Registry;
  nativeInfo(): NativeInfo;
  /** The encoded choice for an algorithm name; `kind` defaults to all-reduce. Throws a RangeError. */
  algorithmId(name: string, kind?: number): number;
  /** [offset, count] of chunk `index` when `count` elements split into `parts` (every schedule's split). */
  chunkOf(count: number, parts: number, index: number): [number, number];
  setErrorClass(cls: typeof DtrainError): void;
  simulate(
    options: {
      algorithm: string;
      np: number;
      bytes: number;
      /** Default allreduce. */
      collective?: AlgorithmCollective;
      hosts?: number;
      alphaIntra?: number;
      betaIntra?: number;
    } & Partial<CostModel>,
  ): SimulationResult;
  measureReduce(bytes: number): number;
  /** An ArrayBuffer of `bytes` over shared memory that peers on this host can map (dtrain.alloc). */
  allocShared(bytes: number): ArrayBuffer;
  /** The CPU kernels (lib/kernels/). */
  kernels: KernelsBinding;
  /** The reference model's layers and the GEMM (lib/nn/). */
  nn: NnBinding;
}

/** The addon's exports as the rest of the package sees them. */
export interface Binding extends Omit<AddonExports, 'Communicator'> {
  Communicator: new (config: NativeCommConfig) => NativeCommunicator;
}

let binding: Binding | undefined;

/**
 * Loads the addon once: a build from source in `build/Release` if there is one, else the
 * prebuilt binary for this platform from `prebuilds/`. On failure throws one error that says
 * which of the usual causes it is (an unsupported platform or CPU, no build, a build for another
 * Node.js or system, a build of another dtrain version) and what to do about it. Applies the
 * environment's DTRAIN_ISA before any kernel runs.
 */
export function loadBinding(): Binding {
  if (binding) return binding;
  const root = path.join(__dirname, '..');
  let loaded: AddonExports;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const load = require('node-gyp-build') as (dir: string) => unknown;
    loaded = load(root) as AddonExports;
  } catch (err) {
    throw new Error(`dtrain: could not load the native addon: ${explainLoadFailure(err, root)}`);
  }
  const abi = loaded.registry?.abiVersion;
  if (abi !== ABI_VERSION) {
    throw new Error(
      `dtrain: the native addon in ${root} was built from another version of dtrain (binding version ` +
        `${abi ?? 'unknown'}, this code expects ${ABI_VERSION}); rebuild it with \`npm run build:native\` ` +
        '(or reinstall the package)',
    );
  }
  loaded.setErrorClass(DtrainError);
  // Before any kernel runs: the level is decided once per process.
  const isa = isaFromEnv();
  if (isa !== undefined) loaded.kernels.forceIsa(isa, 'DTRAIN_ISA');
  binding = { ...loaded, Communicator: requestObjects(loaded.Communicator, slotIndex(loaded.registry.requestFields)) };
  return binding;
}

const REQUEST_NUMBERS: readonly RequestNumber[] = ['kind', 'op', 'algorithm', 'root', 'timeoutSec', 'dtype', 'sync', 'peer', 'tag'];

/** Where each numeric field of a request goes in the slot, from the addon's own list. */
function slotIndex(fields: string[]): Record<RequestNumber, number> {
  if (fields.length !== REQUEST_NUMBERS.length || !REQUEST_NUMBERS.every((f) => fields.includes(f))) {
    throw new Error(
      `dtrain: the native addon's request fields (${fields.join(', ')}) are not this code's; rebuild it with \`npm run build:native\``,
    );
  }
  const index = {} as Record<RequestNumber, number>;
  for (const f of REQUEST_NUMBERS) index[f] = fields.indexOf(f);
  return index;
}

/**
 * The addon's Communicator with `run(request)`: the request's numbers are written into the
 * communicator's slot and the arrays passed along, which costs no property reads in C++.
 */
function requestObjects(
  Addon: new (config: NativeCommConfig) => AddonCommunicator,
  at: Record<RequestNumber, number>,
): new (config: NativeCommConfig) => NativeCommunicator {
  const addonRun = Addon.prototype.run as AddonCommunicator['run'];
  return class extends (Addon as new (config: NativeCommConfig) => Omit<AddonCommunicator, 'run'>) {
    // Read once: the accessor is a call into the addon.
    private readonly slot = this.requestSlot;

    // Field by field rather than in a loop: this runs before every collective.
    run(r: CollectiveRequest): Promise<void> | undefined {
      const s = this.slot;
      s[at.kind] = r.kind;
      s[at.op] = r.op ?? 0;
      s[at.algorithm] = r.algorithm ?? 0;
      s[at.root] = r.root ?? 0;
      s[at.timeoutSec] = r.timeoutSec;
      s[at.dtype] = r.dtype ?? -1;
      s[at.sync] = r.sync ? 1 : 0;
      s[at.peer] = r.peer ?? -1;
      s[at.tag] = r.tag ?? 0;
      if (r.sendCounts !== undefined) return addonRun.call(this, r.buf, r.output, r.sendCounts, r.recvCounts);
      return r.stream === undefined ? addonRun.call(this, r.buf, r.output) : addonRun.call(this, r.buf, r.output, r.stream);
    }
  };
}

/**
 * Why loading failed, with the fix: the causes sharp's loader tells apart, for this package.
 * Exported for tests, which feed it the errors each cause produces.
 */
export function explainLoadFailure(err: unknown, root: string, platform = process.platform, arch = process.arch): string {
  const why = err instanceof Error ? err.message.trim() : String(err);
  const fromSource = 'build it from source with `npm rebuild dtrain` (needs python3, make and a C++17 compiler)';
  if (platform !== 'linux') {
    return `dtrain runs on Linux only (shared memory, futexes and the launcher are Linux's); this is ${platform}-${arch}`;
  }
  if (/No native build was found/.test(why)) {
    if (arch !== 'x64') {
      return `prebuilt binaries are for linux-x64 and this CPU is ${arch}: ${fromSource}. (${why.split('\n')[0]})`;
    }
    return (
      `it is not built: there is no ${root}/build/Release/dtrain.node and no prebuilt binary in ${root}/prebuilds/linux-x64; ` +
      `reinstall the package, or ${fromSource}, or set DTRAIN_PREBUILD to a folder that holds one`
    );
  }
  if (/wrong ELF class|invalid ELF header|ELF file's (OS ABI|machine)|cannot execute binary/i.test(why)) {
    return `the binary is for another platform or CPU than this ${platform}-${arch}: ${fromSource}. (${why})`;
  }
  if (/GLIBC_|GLIBCXX_|CXXABI_/.test(why)) {
    return `the binary needs a newer C or C++ runtime (glibc, libstdc++) than this system has: ${fromSource}. (${why})`;
  }
  if (/undefined symbol|NODE_MODULE_VERSION|was compiled against a different Node\.js/.test(why)) {
    return `the binary does not match this Node.js ${process.version} (N-API ${process.versions.napi}): ${fromSource}, or reinstall the package. (${why})`;
  }
  if (/cannot open shared object file/.test(why)) {
    return `a library it links against is missing on this system: install it, or ${fromSource}. (${why})`;
  }
  return `${why}. Looked in ${root}/build/Release and ${root}/prebuilds; ${fromSource}`;
}
