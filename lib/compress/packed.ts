import type { Communicator } from '../comm/communicator';
import { loadBinding } from '../native';
import type { BucketState } from './bucket-state';
import type { Compressor, GradientBucket } from './compressor';

/** Word 0 of every packed message: whether the sender's bucket held inf or NaN. */
const POISONED = 1;

/**
 * A compressor whose buckets travel as a packed message of 32-bit words, exchanged by
 * all-gather (every rank gets every rank's message) and then decoded and summed on each rank:
 * the way a quantized or sparse gradient must travel, since compressed codes cannot be summed
 * on the wire. Word 0 says whether the sender's bucket was finite; a rank whose bucket held inf
 * or NaN sends no code and leaves its state untouched, and every rank then fills the bucket
 * with NaN, so all skip the step together.
 *
 * Messages have the same length on every rank for a given bucket and step (the all-gather
 * needs it): a format whose payload varies (DGC) pads to its bound and says how much is used.
 */
export abstract class PackedCompressor implements Compressor {
  abstract readonly name: string;
  abstract readonly config: string;
  private readonly messages = new Map<number, Int32Array>();
  private readonly nn = loadBinding().nn;
  private readonly encoded = new Set<GradientBucket>(); // buckets whose state this step's encode() changed

  /** The message length in 32-bit words for this bucket now, including word 0. */
  protected abstract words(bucket: GradientBucket, comm: Communicator): number;
  /** Encodes `bucket.data` into `msg` from word 1 on (updating any state). */
  protected abstract encode(bucket: GradientBucket, msg: Int32Array, comm: Communicator): void;
  /**
   * Adds `scale` times the decoded message of one rank into `out` (zeros before the first).
   */
  protected abstract decodeAdd(bucket: GradientBucket, msg: Int32Array, scale: number, out: Float32Array): void;
  /** The state encode() changes, if any: kept aside on a skippable step and put back if skipped. */
  protected readonly state?: BucketState;

  private pack(bucket: GradientBucket, comm: Communicator): Int32Array {
    const n = this.words(bucket, comm);
    let msg = this.messages.get(bucket.index);
    if (!msg || msg.length !== n) {
      msg = new Int32Array(n);
      this.messages.set(bucket.index, msg);
    }
    let encoded = false;
    if (this.nn.nonFinite(bucket.data, bucket.data.length)) {
      msg.fill(0);
      msg[0] = POISONED;
    } else {
      msg[0] = 0;
      if (bucket.skippable) this.state?.backup(bucket);
      this.encode(bucket, msg, comm);
      encoded = true;
    }
    if (encoded && bucket.skippable) this.encoded.add(bucket);
    return msg;
  }

  private unpack(bucket: GradientBucket, all: Int32Array, size: number): void {
    const n = all.length / size;
    const out = bucket.data;
    for (let r = 0; r < size; r++) {
      if (all[r * n] === POISONED) {
        out.fill(NaN);
        return;
      }
    }
    out.fill(0);
    for (let r = 0; r < size; r++) this.decodeAdd(bucket, all.subarray(r * n, (r + 1) * n), 1 / size, out);
  }

  /**
   * After the optimizer step: when it was skipped (some bucket of some rank overflowed), every
   * bucket's state goes back to what it was before this step, so only applied steps accumulate.
   */
  endStep(applied: boolean): void {
    if (!applied) for (const b of this.encoded) this.state?.restore(b);
    this.encoded.clear();
  }

  /**
   * The bucket as one message of 32-bit words (word 0 says whether it was finite), for a path
   * other than the all-gather: the parameter server's push. Updates the compressor's state as
   * reduce() does; `comm` only lends its rank and size (the stochastic rounding's seed).
   */
  packMessage(bucket: GradientBucket, comm: Pick<Communicator, 'rank' | 'size'>): Int32Array {
    return this.pack(bucket, comm as Communicator);
  }

  /**
   * Decodes one message of {@link packMessage} into `bucket.data` (times `scale`); false, leaving
   * the data untouched, when the sender's bucket held inf or NaN.
   */
  unpackMessage(bucket: GradientBucket, msg: Int32Array, scale = 1): boolean {
    if (msg[0] === POISONED) return false;
    bucket.data.fill(0);
    this.decodeAdd(bucket, msg, scale, bucket.data);
    return true;
  }

  async reduce(bucket: GradientBucket, comm: Communicator): Promise<void> {
    const all = await comm.allgather(this.pack(bucket, comm));
    this.unpack(bucket, all, comm.size);
  }

  reduceSync(bucket: GradientBucket, comm: Communicator): void {
    this.unpack(bucket, comm.allgatherSync(this.pack(bucket, comm)), comm.size);
  }
}

/** A Uint8Array view of words [from, from + ceil(bytes / 4)) of a message. */
export function byteView(msg: Int32Array, fromWord: number, bytes: number): Uint8Array {
  return new Uint8Array(msg.buffer, msg.byteOffset + fromWord * 4, bytes);
}

/** A Float32Array view of words [from, from + count) of a message. */
export function floatView(msg: Int32Array, fromWord: number, count: number): Float32Array {
  return new Float32Array(msg.buffer, msg.byteOffset + fromWord * 4, count);
}

/**
 * `scale` times `count` floats of a message from word `fromWord`, in a buffer reused across calls
 * (the decoders' per-chunk norms or scales, divided by N before decoding).
 */
export class ScaledFloats {
  private buf = new Float32Array(0);

  of(msg: Int32Array, fromWord: number, count: number, scale: number): Float32Array {
    if (this.buf.length < count) this.buf = new Float32Array(count);
    const out = this.buf.subarray(0, count);
    const src = floatView(msg, fromWord, count);
    for (let i = 0; i < count; i++) out[i] = src[i] * scale;
    return out;
  }
}

/** 32-bit words that hold `bytes` bytes. */
export const wordsFor = (bytes: number): number => Math.ceil(bytes / 4);
