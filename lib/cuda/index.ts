/**
 * `dtrain.cuda`: GPUs through the CUDA runtime found at run time (libcudart is loaded with
 * dlopen, so the package loads and runs everywhere). On a machine without a usable device every
 * call but deviceCount() and info() throws ERR_DTRAIN_NO_GPU, naming the libraries tried.
 *
 * Device buffers go to the collectives as host arrays do (`dtrain.allreduce(buf)`): NCCL runs
 * them (algorithm `nccl`, what `auto` means there), or dtrain's own schedules over NCCL's
 * send/recv when a call names one. The kernels (casts with scaling, unscale with an overflow
 * check, the fused SGD and LARS steps) come from libdtrain_cuda.so, built by nvcc beside the
 * addon and loaded only where a GPU is present.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { checkOptions } from '../common/args';
import { localRankFromEnv } from '../comm/config';
import { nativeIds } from '../common/constants';
import { DtrainError } from '../common/errors';
import { qsgdCodeBytes } from '../kernels/quantize';
import { loadBinding } from '../native';

/** The element types a device buffer can hold, and their sizes. */
const ELEMENT_BYTES = { float32: 4, float64: 8, int32: 4, int64: 8, uint8: 1, int8: 1, float16: 2, bfloat16: 2 } as const;

/** A dtype of {@link alloc}. */
export type DeviceDType = keyof typeof ELEMENT_BYTES;

type Native = InstanceType<ReturnType<typeof loadBinding>['cuda']['DeviceMemory']>;
type NativeStream = InstanceType<ReturnType<typeof loadBinding>['cuda']['Stream']>;

/** `n` elements of `dtype` in a GPU's memory, from {@link alloc}. */
export class DeviceBuffer {
  private constructor(
    private native: Native | null,
    readonly length: number,
    readonly dtype: DeviceDType,
    readonly device: number,
  ) {}

  /** @internal */
  static create(n: number, dtype: DeviceDType, device: number): DeviceBuffer {
    const memory = new (loadBinding().cuda.DeviceMemory)(n * ELEMENT_BYTES[dtype], device);
    return new DeviceBuffer(memory, n, dtype, device);
  }

  /** Bytes it holds. */
  get byteLength(): number {
    return this.length * ELEMENT_BYTES[this.dtype];
  }

  /** Copies `src` (a TypedArray of this buffer's element size) to the device, from element `offset`. */
  copyFrom(src: ArrayBufferView, offset = 0): this {
    this.alive('copyFrom').upload(this.checked(src, offset, 'copyFrom'), offset * ELEMENT_BYTES[this.dtype]);
    return this;
  }

  /** Copies the device's elements from `offset` into `dst`; returns `dst`. */
  copyTo<T extends ArrayBufferView>(dst: T, offset = 0): T {
    this.alive('copyTo').download(this.checked(dst, offset, 'copyTo'), offset * ELEMENT_BYTES[this.dtype]);
    return dst;
  }

  /**
   * Copies `n` elements of `src` (same dtype), from its element `srcOffset`, into this buffer
   * from element `offset`, device to device; returns this buffer.
   */
  copyFromDevice(src: DeviceBuffer, srcOffset = 0, offset = 0, n = src.length - srcOffset): this {
    if (!(src instanceof DeviceBuffer)) throw new TypeError('DeviceBuffer.copyFromDevice: src must be a DeviceBuffer');
    if (src.dtype !== this.dtype) throw new TypeError(`DeviceBuffer.copyFromDevice: src holds ${src.dtype}, this buffer ${this.dtype}`);
    for (const [v, name] of [[srcOffset, 'srcOffset'], [offset, 'offset'], [n, 'n']] as const) {
      if (!Number.isInteger(v) || v < 0) throw new RangeError(`DeviceBuffer.copyFromDevice: ${name} must be a whole number, got ${String(v)}`);
    }
    if (srcOffset + n > src.length || offset + n > this.length) {
      throw new RangeError(`DeviceBuffer.copyFromDevice: ${n} elements from ${srcOffset} of ${src.length} to ${offset} of ${this.length} do not fit`);
    }
    const es = ELEMENT_BYTES[this.dtype];
    this.alive('copyFromDevice').copyDevice(src.alive('copyFromDevice'), srcOffset * es, offset * es, n * es);
    return this;
  }

  /** @internal The native memory, for the collectives and kernels. */
  nativeMemory(fn: string): Native {
    return this.alive(fn);
  }

  /** @internal Collectives in flight on this buffer: it must not be freed under them. */
  inFlight = 0;

  /** Frees the device memory now (it is freed with the object otherwise). */
  free(): void {
    if (this.inFlight > 0) throw new Error('DeviceBuffer.free: a collective is still using the buffer; await it first');
    this.native?.free();
    this.native = null;
  }

  private alive(fn: string): Native {
    if (!this.native) throw new Error(`DeviceBuffer.${fn}: the buffer was freed`);
    return this.native;
  }

  private checked(a: ArrayBufferView, offset: number, fn: string): ArrayBufferView {
    if (!ArrayBuffer.isView(a) || a instanceof DataView) throw new TypeError(`DeviceBuffer.${fn}: a TypedArray is needed`);
    const per = (a as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
    if (per !== ELEMENT_BYTES[this.dtype]) throw new TypeError(`DeviceBuffer.${fn}: the buffer holds ${this.dtype}; give a TypedArray of ${ELEMENT_BYTES[this.dtype]}-byte elements`);
    const n = a.byteLength / per;
    if (!Number.isInteger(offset) || offset < 0 || offset + n > this.length) {
      throw new RangeError(`DeviceBuffer.${fn}: elements ${offset}..${offset + n} do not fit a buffer of ${this.length}`);
    }
    return a;
  }
}

/**
 * A CUDA stream on one device, from {@link stream}: kernels and device collectives given it as
 * `{ stream }` are ordered on it (a collective waits for what the stream had queued when it was
 * called).
 */
export class Stream {
  /** @internal */
  constructor(private native: NativeStream | null, readonly device: number) {}

  /** Waits until everything queued on the stream has run. */
  synchronize(): void {
    this.alive('synchronize').synchronize();
  }

  /** Whether everything queued on the stream has run. */
  query(): boolean {
    return this.alive('query').query();
  }

  /** Destroys the stream now (it is destroyed with the object otherwise). */
  destroy(): void {
    this.native?.destroy();
    this.native = null;
  }

  /** @internal */
  nativeStream(fn: string): NativeStream {
    return this.alive(fn);
  }

  private alive(fn: string): NativeStream {
    if (!this.native) throw new Error(`Stream.${fn}: the stream was destroyed`);
    return this.native;
  }
}

/** How many CUDA devices this process sees (0 without a CUDA runtime or a device). */
export function deviceCount(): number {
  return loadBinding().cuda.deviceCount();
}

/** What was found: the CUDA runtime (names tried, devices, versions), NCCL and the kernels. */
export function info(): ReturnType<ReturnType<typeof loadBinding>['cuda']['probe']> & { kernels: KernelsInfo } {
  const probe = loadBinding().cuda.probe();
  return { ...probe, kernels: kernelsInfo() };
}

/** Where libdtrain_cuda.so is looked for: the install's build (native/gpu/build.js), then the prebuilds. */
export function kernelLibraryCandidates(): string[] {
  const root = join(__dirname, '..', '..');
  return [
    join(root, 'build', 'cuda', 'libdtrain_cuda.so'),
    join(root, 'build', 'Release', 'libdtrain_cuda.so'),
    join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'libdtrain_cuda.so'),
  ];
}

/** What {@link info} says of the CUDA kernels' library. */
export interface KernelsInfo {
  /** Loaded into this process (only where a CUDA device is present). */
  loaded: boolean;
  /** The library found, loaded or not. */
  library: string | null;
  tried: string[];
  /** What it says of itself once loaded (CUDA runtime, architectures), else why it is not. */
  reason: string;
}

let kernelsOutcome: string | undefined;

/** Loads libdtrain_cuda.so once a device is known to be present; the reason when it cannot. */
function loadKernels(): string | undefined {
  if (kernelsOutcome !== undefined) return kernelsOutcome || undefined;
  const found = kernelLibraryCandidates().find((p) => existsSync(p));
  if (!found) {
    kernelsOutcome = `libdtrain_cuda.so is not built (looked for ${kernelLibraryCandidates().join(', ')}): it is built at install where nvcc is found (npm rebuild dtrain)`;
    return kernelsOutcome;
  }
  try {
    loadBinding().cuda.loadKernels(found);
    kernelsOutcome = '';
  } catch (err) {
    kernelsOutcome = err instanceof Error ? err.message : String(err);
  }
  return kernelsOutcome || undefined;
}

function kernelsInfo(): KernelsInfo {
  const tried = kernelLibraryCandidates();
  const library = tried.find((p) => existsSync(p)) ?? null;
  const probe = loadBinding().cuda.probe().kernels;
  if (probe.loaded) return { loaded: true, library: probe.library, tried, reason: probe.reason };
  if (library && deviceCount() === 0) {
    return { loaded: false, library, tried, reason: `${library} is present; it is loaded where a CUDA device is (there is none here)` };
  }
  return { loaded: false, library, tried, reason: loadKernels() ?? probe.reason };
}

/**
 * @internal Before a collective on device buffers: loads the kernels dtrain's schedules reduce
 * with, if it can (the engine says why not where a call needs them).
 */
export function prepareKernelsForCollectives(): void {
  loadKernels();
}

/** The kernels, loaded: throws ERR_DTRAIN_NO_GPU saying why not. */
function kernels(fn: string): ReturnType<typeof loadBinding>['cuda'] {
  const cuda = loadBinding().cuda;
  if (cuda.deviceCount() === 0) {
    const probe = cuda.probe();
    throw new DtrainError(`cuda.${fn}: no CUDA device or library was found (tried ${probe.cuda.tried.join(', ')}: ${probe.cuda.reason})`, 'ERR_DTRAIN_NO_GPU');
  }
  const why = loadKernels();
  if (why) throw new DtrainError(`cuda.${fn}: the CUDA kernels are not available: ${why}`, 'ERR_DTRAIN_NO_GPU');
  return cuda;
}

/**
 * A new stream on `device` (default: this worker's, see {@link alloc}).
 *
 * @throws DtrainError ERR_DTRAIN_NO_GPU without a CUDA device or runtime
 */
export function stream(options: { device?: number } = {}): Stream {
  checkOptions(options, ['device'], 'cuda.stream');
  const device = deviceOption(options.device, 'cuda.stream');
  return new Stream(new (loadBinding().cuda.Stream)(device), device);
}

/** The device a worker uses by default: its place on its host, modulo the devices it sees. */
export function defaultDevice(): number {
  const local = localRankFromEnv() ?? 0;
  const n = deviceCount();
  return n > 0 ? local % n : 0;
}

function deviceOption(device: unknown, fn: string): number {
  if (device === undefined) return defaultDevice();
  if (!Number.isInteger(device) || (device as number) < 0) throw new RangeError(`${fn}: device must be a device index, got ${String(device)}`);
  return device as number;
}

function streamOf(o: { stream?: Stream }, fn: string): NativeStream | undefined {
  if (o.stream === undefined) return undefined;
  if (!(o.stream instanceof Stream)) throw new TypeError(`cuda.${fn}: stream must be a dtrain.cuda Stream`);
  return o.stream.nativeStream(fn);
}

function buffer(b: unknown, dtypes: readonly DeviceDType[], fn: string, name: string): DeviceBuffer {
  if (!(b instanceof DeviceBuffer)) throw new TypeError(`cuda.${fn}: ${name} must be a DeviceBuffer (cuda.alloc)`);
  if (!dtypes.includes(b.dtype)) throw new TypeError(`cuda.${fn}: ${name} holds ${b.dtype}; it must hold ${dtypes.join(' or ')}`);
  return b;
}

function sameLength(a: DeviceBuffer, b: DeviceBuffer, fn: string): number {
  if (a.length !== b.length) throw new RangeError(`cuda.${fn}: the buffers differ in length (${a.length} and ${b.length})`);
  return a.length;
}

/** Options of the casts. */
export interface CastOptions {
  /** Multiplies on the way to half precision, divides on the way back (loss scaling). Default 1. */
  scale?: number;
  stream?: Stream;
}

function scaleOf(o: CastOptions, fn: string): number {
  const scale = o.scale ?? 1;
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale === 0) throw new RangeError(`cuda.${fn}: scale must be a finite non-zero number, got ${String(scale)}`);
  return scale;
}

/**
 * dst = half(src * scale), rounded to nearest even, on the GPU: dst holds float16 or bfloat16.
 * Queued on the stream (default: the default stream).
 */
export function castToHalf(src: DeviceBuffer, dst: DeviceBuffer, options: CastOptions = {}): void {
  checkOptions(options, ['scale', 'stream'], 'cuda.castToHalf');
  const n = sameLength(buffer(src, ['float32'], 'castToHalf', 'src'), buffer(dst, ['float16', 'bfloat16'], 'castToHalf', 'dst'), 'castToHalf');
  kernels('castToHalf').castToHalf(src.nativeMemory('castToHalf'), dst.nativeMemory('castToHalf'), n, scaleOf(options, 'castToHalf'), dst.dtype === 'bfloat16', streamOf(options, 'castToHalf'));
}

/**
 * dst = float(src) / scale on the GPU (the unscale of mixed precision), and whether any result
 * is inf or NaN (an overflow: skip the step and lower the loss scale). Waits for the stream.
 */
export function castFromHalf(src: DeviceBuffer, dst: DeviceBuffer, options: CastOptions = {}): boolean {
  checkOptions(options, ['scale', 'stream'], 'cuda.castFromHalf');
  const n = sameLength(buffer(src, ['float16', 'bfloat16'], 'castFromHalf', 'src'), buffer(dst, ['float32'], 'castFromHalf', 'dst'), 'castFromHalf');
  return kernels('castFromHalf').castFromHalf(src.nativeMemory('castFromHalf'), dst.nativeMemory('castFromHalf'), n, scaleOf(options, 'castFromHalf'), src.dtype === 'bfloat16', streamOf(options, 'castFromHalf'));
}

const REDUCE_OPS = ['sum', 'avg', 'min', 'max', 'prod'] as const;

/** dst = dst op src element by element on the GPU (op: sum, min, max, prod; avg adds). */
export function reduce(dst: DeviceBuffer, src: DeviceBuffer, options: { op?: (typeof REDUCE_OPS)[number]; stream?: Stream } = {}): void {
  checkOptions(options, ['op', 'stream'], 'cuda.reduce');
  const all = Object.keys(ELEMENT_BYTES) as DeviceDType[];
  const n = sameLength(buffer(dst, all, 'reduce', 'dst'), buffer(src, [dst.dtype], 'reduce', 'src'), 'reduce');
  const op = options.op ?? 'sum';
  if (!REDUCE_OPS.includes(op)) throw new RangeError(`cuda.reduce: op must be one of ${REDUCE_OPS.join(', ')}, got ${String(op)}`);
  const ids = nativeIds();
  kernels('reduce').reduce(ids.dtype[dst.dtype], ids.reduceOp[op], dst.nativeMemory('reduce'), src.nativeMemory('reduce'), n, streamOf(options, 'reduce'));
}

/** dst /= divisor on the GPU, as an average divides (integers truncate toward zero). */
export function scale(dst: DeviceBuffer, divisor: number, options: { stream?: Stream } = {}): void {
  checkOptions(options, ['stream'], 'cuda.scale');
  buffer(dst, Object.keys(ELEMENT_BYTES) as DeviceDType[], 'scale', 'dst');
  if (!Number.isInteger(divisor) || divisor < 1) throw new RangeError(`cuda.scale: divisor must be an integer >= 1, got ${String(divisor)}`);
  kernels('scale').scale(nativeIds().dtype[dst.dtype], dst.nativeMemory('scale'), dst.length, divisor, streamOf(options, 'scale'));
}

/** One tensor of a fused optimizer step on the GPU: float32 master weights and their state. */
export interface DeviceTensor {
  weights: DeviceBuffer;
  /** float32, or float16 with `gradHalf`. */
  grad: DeviceBuffer;
  /** Momentum (SGD) or velocity (LARS): zeros before the first step. */
  state: DeviceBuffer;
  /** Receives float16(weights) after the update, for the next forward pass in half precision. */
  weights16?: DeviceBuffer;
  /** No weight decay (and for LARS no adaptation): biases, batch norm. */
  exclude?: boolean;
}

/** Options of {@link sgdStep}; the defaults are dtrain.optim.SGD's. */
export interface DeviceSgdOptions {
  lr: number;
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
  /** Gradients are multiplied by this first (1 / loss scale). */
  gradScale?: number;
  /** Skip the whole step on the GPU if any gradient is inf or NaN (default true). */
  checkFinite?: boolean;
  stream?: Stream;
}

/** Options of {@link larsStep}; the defaults are dtrain.optim.LARS's. */
export interface DeviceLarsOptions extends Omit<DeviceSgdOptions, 'nesterov'> {
  eta?: number;
}

function tensorsOf(tensors: DeviceTensor[], fn: string): { half: boolean; list: object[] } {
  if (!Array.isArray(tensors) || tensors.length === 0) throw new TypeError(`cuda.${fn}: tensors must be a non-empty Array`);
  const half = tensors[0].grad instanceof DeviceBuffer && tensors[0].grad.dtype === 'float16';
  const list = tensors.map((t, i) => {
    checkOptions(t, ['weights', 'grad', 'state', 'weights16', 'exclude'], `cuda.${fn}: tensors[${i}]`);
    const w = buffer(t.weights, ['float32'], fn, `tensors[${i}].weights`);
    const g = buffer(t.grad, [half ? 'float16' : 'float32'], fn, `tensors[${i}].grad`);
    sameLength(w, g, fn);
    sameLength(w, buffer(t.state, ['float32'], fn, `tensors[${i}].state`), fn);
    if (t.weights16 !== undefined) sameLength(w, buffer(t.weights16, ['float16'], fn, `tensors[${i}].weights16`), fn);
    return {
      weights: w.nativeMemory(fn),
      grad: g.nativeMemory(fn),
      state: t.state.nativeMemory(fn),
      weights16: t.weights16?.nativeMemory(fn),
      exclude: t.exclude === true,
    };
  });
  return { half, list };
}

function stepOptions<T extends object>(o: T, keys: string[], fn: string): T {
  checkOptions(o, [...keys, 'stream'], `cuda.${fn}`);
  for (const k of keys) {
    const v = (o as Record<string, unknown>)[k];
    if (v !== undefined && typeof v !== 'boolean' && (typeof v !== 'number' || !Number.isFinite(v))) {
      throw new RangeError(`cuda.${fn}: ${k} must be a finite number, got ${String(v)}`);
    }
  }
  if (typeof (o as { lr?: unknown }).lr !== 'number') throw new RangeError(`cuda.${fn}: lr is required`);
  return o;
}

/**
 * One SGD step (momentum, weight decay, Nesterov) over every tensor in one launch, on FP32
 * master weights, skipped on the GPU when a gradient is inf or NaN. Queued on the stream.
 */
export function sgdStep(tensors: DeviceTensor[], options: DeviceSgdOptions): void {
  const o = stepOptions(options, ['lr', 'momentum', 'weightDecay', 'nesterov', 'gradScale', 'checkFinite'], 'sgdStep');
  const { half, list } = tensorsOf(tensors, 'sgdStep');
  kernels('sgdStep').sgdStep({ ...o, stream: undefined, gradHalf: half }, list, streamOf(o, 'sgdStep'));
}

/** One LARS step (layer-wise trust ratios from the weights' and gradients' norms), as {@link sgdStep}. */
export function larsStep(tensors: DeviceTensor[], options: DeviceLarsOptions): void {
  const o = stepOptions(options, ['lr', 'momentum', 'weightDecay', 'eta', 'gradScale', 'checkFinite'], 'larsStep');
  const { half, list } = tensorsOf(tensors, 'larsStep');
  kernels('larsStep').larsStep({ ...o, stream: undefined, gradHalf: half }, list, streamOf(o, 'larsStep'));
}

/**
 * `n` elements of `dtype` (default float32) on device `device` (default: the worker's place on
 * its host modulo the devices it sees, so each local rank has a GPU of its own, as NCCL needs).
 *
 * @throws DtrainError ERR_DTRAIN_NO_GPU without a CUDA device or runtime, naming what was tried
 */
export function alloc(n: number, dtype: DeviceDType = 'float32', options: { device?: number } = {}): DeviceBuffer {
  checkOptions(options, ['device'], 'cuda.alloc');
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`cuda.alloc: n must be a whole number of elements, got ${String(n)}`);
  if (!Object.hasOwn(ELEMENT_BYTES, dtype)) throw new RangeError(`cuda.alloc: dtype must be one of ${Object.keys(ELEMENT_BYTES).join(', ')}, got '${String(dtype)}'`);
  return DeviceBuffer.create(n, dtype, deviceOption(options.device, 'cuda.alloc'));
}

// ---- gradient compression on device buffers: the CPU's codes (dtrain.kernels), on the GPU ----

function positive(v: unknown, fn: string, name: string, max = 2 ** 32 - 1): number {
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > max) throw new RangeError(`cuda.${fn}: ${name} must be an integer in [1, ${max}], got ${String(v)}`);
  return v as number;
}

function seedOf(v: unknown, fn: string): number {
  if (v === undefined) return (Math.random() * 2 ** 32) >>> 0;
  if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 2 ** 32 - 1) throw new RangeError(`cuda.${fn}: seed must be an integer in [0, 2^32), got ${String(v)}`);
  return v as number;
}

function needCode(code: DeviceBuffer, bytes: number, fn: string): void {
  if (code.length < bytes) throw new RangeError(`cuda.${fn}: code holds ${code.length} bytes; the code of this length needs ${bytes}`);
}

const planeBytes = (n: number): number => Math.ceil(n / 8);

/**
 * QSGD (Alistarh et al. 2017) of float32 `x` into the uint8 buffer `code`, laid out as
 * dtrain.kernels.qsgdEncode's (qsgdCodeBytes(n, levels) bytes); returns the norm it scaled by
 * (`norm`, or ||x||₂ when left out). Waits for the stream (the norm comes back to the host).
 */
export function qsgdEncode(x: DeviceBuffer, code: DeviceBuffer, options: { levels: number; seed?: number; norm?: number; stream?: Stream }): number {
  checkOptions(options, ['levels', 'seed', 'norm', 'stream'], 'cuda.qsgdEncode');
  buffer(x, ['float32'], 'qsgdEncode', 'x');
  buffer(code, ['uint8'], 'qsgdEncode', 'code');
  const levels = positive(options.levels, 'qsgdEncode', 'levels', 2 ** 24);
  needCode(code, qsgdCodeBytes(x.length, levels), 'qsgdEncode');
  const norm = options.norm ?? -1;
  if (options.norm !== undefined && (typeof norm !== 'number' || !Number.isFinite(norm) || norm < 0)) {
    throw new RangeError(`cuda.qsgdEncode: norm must be a finite number >= 0, got ${String(norm)}`);
  }
  return kernels('qsgdEncode').qsgdEncode(x.nativeMemory('qsgdEncode'), code.nativeMemory('qsgdEncode'), x.length, levels, seedOf(options.seed, 'qsgdEncode'), norm, streamOf(options, 'qsgdEncode'));
}

/** Options of the decoders: `accumulate` adds into `out` instead of overwriting it. */
export interface DeviceDecodeOptions {
  accumulate?: boolean;
  stream?: Stream;
}

/** Decodes a QSGD code into float32 `out` (of the encoded length). */
export function qsgdDecode(code: DeviceBuffer, out: DeviceBuffer, options: DeviceDecodeOptions & { levels: number; norm: number }): void {
  checkOptions(options, ['levels', 'norm', 'accumulate', 'stream'], 'cuda.qsgdDecode');
  buffer(code, ['uint8'], 'qsgdDecode', 'code');
  buffer(out, ['float32'], 'qsgdDecode', 'out');
  const levels = positive(options.levels, 'qsgdDecode', 'levels', 2 ** 24);
  needCode(code, qsgdCodeBytes(out.length, levels), 'qsgdDecode');
  if (typeof options.norm !== 'number' || !Number.isFinite(options.norm)) throw new RangeError(`cuda.qsgdDecode: norm must be a finite number, got ${String(options.norm)}`);
  kernels('qsgdDecode').qsgdDecode(code.nativeMemory('qsgdDecode'), out.nativeMemory('qsgdDecode'), out.length, levels, options.norm, options.accumulate === true, streamOf(options, 'qsgdDecode'));
}

/** TernGrad (Wen et al. 2017) of `x` into `code` (2 bit planes); returns the scale, max |x|. Waits for the stream. */
export function ternGradEncode(x: DeviceBuffer, code: DeviceBuffer, options: { seed?: number; stream?: Stream } = {}): number {
  checkOptions(options, ['seed', 'stream'], 'cuda.ternGradEncode');
  buffer(x, ['float32'], 'ternGradEncode', 'x');
  buffer(code, ['uint8'], 'ternGradEncode', 'code');
  needCode(code, 2 * planeBytes(x.length), 'ternGradEncode');
  return kernels('ternGradEncode').ternGradEncode(x.nativeMemory('ternGradEncode'), code.nativeMemory('ternGradEncode'), x.length, seedOf(options.seed, 'ternGradEncode'), streamOf(options, 'ternGradEncode'));
}

/** Decodes a TernGrad code with its scale into `out`. */
export function ternGradDecode(code: DeviceBuffer, out: DeviceBuffer, options: DeviceDecodeOptions & { scale: number }): void {
  decodePlanes('ternGradDecode', 2, code, out, options);
}

/**
 * 1-bit SGD with error feedback (Seide et al. 2014): the signs of grad + residual into `code`
 * (one bit plane), the residual updated in place; returns the scale. Waits for the stream.
 */
export function signEncode(grad: DeviceBuffer, residual: DeviceBuffer, code: DeviceBuffer, options: { stream?: Stream } = {}): number {
  checkOptions(options, ['stream'], 'cuda.signEncode');
  sameLength(buffer(grad, ['float32'], 'signEncode', 'grad'), buffer(residual, ['float32'], 'signEncode', 'residual'), 'signEncode');
  buffer(code, ['uint8'], 'signEncode', 'code');
  needCode(code, planeBytes(grad.length), 'signEncode');
  return kernels('signEncode').signEncode(grad.nativeMemory('signEncode'), residual.nativeMemory('signEncode'), code.nativeMemory('signEncode'), grad.length, streamOf(options, 'signEncode'));
}

/** Decodes a 1-bit code with its scale into `out`. */
export function signDecode(code: DeviceBuffer, out: DeviceBuffer, options: DeviceDecodeOptions & { scale: number }): void {
  decodePlanes('signDecode', 1, code, out, options);
}

function decodePlanes(fn: 'ternGradDecode' | 'signDecode', planes: number, code: DeviceBuffer, out: DeviceBuffer, options: DeviceDecodeOptions & { scale: number }): void {
  checkOptions(options, ['scale', 'accumulate', 'stream'], `cuda.${fn}`);
  buffer(code, ['uint8'], fn, 'code');
  buffer(out, ['float32'], fn, 'out');
  needCode(code, planes * planeBytes(out.length), fn);
  if (typeof options.scale !== 'number' || !Number.isFinite(options.scale)) throw new RangeError(`cuda.${fn}: scale must be a finite number, got ${String(options.scale)}`);
  kernels(fn)[fn](code.nativeMemory(fn), out.nativeMemory(fn), out.length, options.scale, options.accumulate === true, streamOf(options, fn));
}

/** The most pairs {@link dgcStep} writes for `n` elements at `density`: what idx and values must hold. */
export function dgcTargetCount(n: number, density: number): number {
  // The native side holds density as float32; count as it does.
  return n === 0 ? 0 : Math.min(n, Math.max(1, Math.ceil(n * Math.fround(density))));
}

/**
 * One Deep Gradient Compression step (Lin et al. 2018) on the GPU, as dtrain.kernels.dgcStep:
 * momentum correction into `u` and `v`, the threshold from a sample, the selected (index,
 * value) pairs into `idx` (int32 bits of uint32 indices) and `values` (float32, or float16), and
 * momentum factor masking. Returns the number of pairs; waits for the stream.
 */
export function dgcStep(
  u: DeviceBuffer,
  v: DeviceBuffer,
  grad: DeviceBuffer,
  idx: DeviceBuffer,
  values: DeviceBuffer,
  options: { momentum?: number; density?: number; sampleRatio?: number; seed?: number; maxRounds?: number; stream?: Stream } = {},
): number {
  checkOptions(options, ['momentum', 'density', 'sampleRatio', 'seed', 'maxRounds', 'stream'], 'cuda.dgcStep');
  const n = sameLength(buffer(u, ['float32'], 'dgcStep', 'u'), buffer(v, ['float32'], 'dgcStep', 'v'), 'dgcStep');
  sameLength(u, buffer(grad, ['float32'], 'dgcStep', 'grad'), 'dgcStep');
  buffer(idx, ['int32'], 'dgcStep', 'idx');
  buffer(values, ['float32', 'float16'], 'dgcStep', 'values');
  const d = loadBinding().kernels.defaults.dgc;
  const density = options.density ?? d.density;
  if (typeof density !== 'number' || !(density > 0 && density <= 1)) throw new RangeError(`cuda.dgcStep: density must be in (0, 1], got ${String(density)}`);
  const sampleRatio = options.sampleRatio ?? d.sampleRatio;
  if (typeof sampleRatio !== 'number' || !(sampleRatio > 0 && sampleRatio <= 1)) throw new RangeError(`cuda.dgcStep: sampleRatio must be in (0, 1], got ${String(sampleRatio)}`);
  const momentum = options.momentum ?? d.momentum;
  if (typeof momentum !== 'number' || !Number.isFinite(momentum)) throw new RangeError(`cuda.dgcStep: momentum must be a finite number, got ${String(momentum)}`);
  const maxRounds = options.maxRounds ?? d.maxRounds;
  if (!Number.isInteger(maxRounds) || maxRounds < 0 || maxRounds > 1000) throw new RangeError(`cuda.dgcStep: maxRounds must be an integer in [0, 1000], got ${String(maxRounds)}`);
  const target = dgcTargetCount(n, density);
  if (idx.length < target || values.length < target) throw new RangeError(`cuda.dgcStep: idx and values must hold dgcTargetCount(${n}, ${density}) = ${target} elements`);
  const o = { momentum, density, sampleRatio, maxRounds, seed: seedOf(options.seed, 'dgcStep') };
  return kernels('dgcStep').dgcStep(u.nativeMemory('dgcStep'), v.nativeMemory('dgcStep'), grad.nativeMemory('dgcStep'), n, o, idx.nativeMemory('dgcStep'), values.nativeMemory('dgcStep'), values.dtype === 'float16', streamOf(options, 'dgcStep'));
}

/**
 * dense[idx[i]] += values[i] for the first `count` pairs (a DGC step's), on the GPU. An index
 * past dense's end is skipped there and throws once the stream has run (the pairs in range are
 * added). Waits for the stream.
 */
export function scatterAdd(dense: DeviceBuffer, idx: DeviceBuffer, values: DeviceBuffer, count: number, options: { stream?: Stream } = {}): void {
  checkOptions(options, ['stream'], 'cuda.scatterAdd');
  buffer(dense, ['float32'], 'scatterAdd', 'dense');
  buffer(idx, ['int32'], 'scatterAdd', 'idx');
  buffer(values, ['float32', 'float16'], 'scatterAdd', 'values');
  if (!Number.isInteger(count) || count < 0 || count > idx.length || count > values.length) {
    throw new RangeError(`cuda.scatterAdd: count must be an integer in [0, ${Math.min(idx.length, values.length)}], got ${String(count)}`);
  }
  kernels('scatterAdd').scatterAdd(dense.nativeMemory('scatterAdd'), idx.nativeMemory('scatterAdd'), values.nativeMemory('scatterAdd'), count, values.dtype === 'float16', streamOf(options, 'scatterAdd'));
}
