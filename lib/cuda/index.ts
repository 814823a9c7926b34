/**
 * `dtrain.cuda`: GPUs through the CUDA runtime found at run time (libcudart is loaded with
 * dlopen, so the package loads and runs everywhere). On a machine without a usable device every
 * call but deviceCount() and info() throws ERR_DTRAIN_NO_GPU, naming the libraries tried.
 */
import { checkOptions } from '../common/args';
import { loadBinding } from '../native';

/** The element types a device buffer can hold, and their sizes. */
const ELEMENT_BYTES = { float32: 4, float64: 8, int32: 4, int64: 8, uint8: 1, int8: 1, float16: 2, bfloat16: 2 } as const;

/** A dtype of {@link alloc}. */
export type DeviceDType = keyof typeof ELEMENT_BYTES;

type Native = InstanceType<ReturnType<typeof loadBinding>['cuda']['DeviceMemory']>;

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

  /** Frees the device memory now (it is freed with the object otherwise). */
  free(): void {
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

/** How many CUDA devices this process sees (0 without a CUDA runtime or a device). */
export function deviceCount(): number {
  return loadBinding().cuda.deviceCount();
}

/** What was found: the CUDA runtime (names tried, devices, versions) and NCCL. */
export function info(): ReturnType<ReturnType<typeof loadBinding>['cuda']['probe']> {
  return loadBinding().cuda.probe();
}

/**
 * `n` elements of `dtype` (default float32) on device `device` (default 0).
 *
 * @throws DtrainError ERR_DTRAIN_NO_GPU without a CUDA device or runtime, naming what was tried
 */
export function alloc(n: number, dtype: DeviceDType = 'float32', options: { device?: number } = {}): DeviceBuffer {
  checkOptions(options, ['device'], 'cuda.alloc');
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`cuda.alloc: n must be a whole number of elements, got ${String(n)}`);
  if (!Object.hasOwn(ELEMENT_BYTES, dtype)) throw new RangeError(`cuda.alloc: dtype must be one of ${Object.keys(ELEMENT_BYTES).join(', ')}, got '${String(dtype)}'`);
  const device = options.device ?? 0;
  if (!Number.isInteger(device) || device < 0) throw new RangeError(`cuda.alloc: device must be a device index, got ${String(device)}`);
  return DeviceBuffer.create(n, dtype, device);
}
