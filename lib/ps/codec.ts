/**
 * Gradients on the way to a server, compressed with the compressors the all-reduce path uses:
 * fp16 casts to half precision (two per 32-bit word); the packed ones (qsgd, terngrad, onebit,
 * dgc) encode a message with their kernels, keeping their state (error feedback, DGC's
 * accumulators) on the worker. The server decodes with the same compressor rebuilt from its
 * config string. One fused buffer per server is one "bucket".
 */
import type { Compressor, GradientBucket } from '../compress/compressor';
import { Fp16Compression } from '../compress/fp16';
import { PackedCompressor } from '../compress/packed';
import { compressorFromConfig } from '../compress/registry';
import { loadBinding } from '../native';

/** A server's fused slices as a compressor sees a bucket. */
export function bucketOf(index: number, data: Float32Array, names: readonly string[], offsets: readonly number[]): GradientBucket {
  return { index, data, names, offsets, lossScale: 1, skippable: false };
}

/** Encodes a fused gradient into 32-bit words, or returns null to send it as float32. */
export type Encoder = ((bucket: GradientBucket, rank: number) => Int32Array) | null;

/** Decodes words into `bucket.data`; false when the sender's gradient was not finite. */
export type Decoder = (bucket: GradientBucket, words: Int32Array) => boolean;

export function encoderFor(c: Compressor): Encoder {
  if (c.name === 'none') return null;
  if (c instanceof Fp16Compression) {
    const k = loadBinding().kernels;
    const halves = new Map<number, Uint16Array>();
    return (bucket) => {
      const n = bucket.data.length;
      let h = halves.get(bucket.index);
      if (!h || h.length !== n + (n % 2)) {
        h = new Uint16Array(n + (n % 2));
        halves.set(bucket.index, h);
      }
      k.castToHalf(bucket.data, h.subarray(0, n), 1, false);
      return new Int32Array(h.buffer, 0, h.length / 2);
    };
  }
  if (c instanceof PackedCompressor) return (bucket, rank) => c.packMessage(bucket, { rank, size: 1 });
  throw new TypeError(`ps: compressor '${c.name}' cannot encode a push (fp16, qsgd, terngrad, onebit and dgc can)`);
}

export function decoderFor(config: string): Decoder | null {
  const c = compressorFromConfig(config);
  if (c.name === 'none') return null;
  if (c instanceof Fp16Compression) {
    const k = loadBinding().kernels;
    return (bucket, words) => {
      const n = bucket.data.length;
      // castFromHalf returns whether some value was inf or NaN.
      return !k.castFromHalf(new Uint16Array(words.buffer, words.byteOffset, n), bucket.data, 1, false);
    };
  }
  if (c instanceof PackedCompressor) return (bucket, words) => c.unpackMessage(bucket, words, 1);
  throw new TypeError(`ps: compressor '${c.name}' cannot decode a push`);
}
