import type { Communicator } from '../comm/communicator';
import { loadBinding } from '../native';
import type { Compressor, GradientBucket } from './compressor';

/**
 * float16 on the wire, as PyTorch DDP's `fp16_compress_hook`: each rank's bucket is divided by
 * the world size while it is cast to float16 (so the sum cannot overflow where the mean would
 * not), summed as float16 (the engine adds in float32 and rounds once per step), and cast back.
 * Half the bytes of float32. An inf or NaN on any rank reaches every rank's result.
 */
export class Fp16Compression implements Compressor {
  readonly name = 'fp16';
  readonly config = 'fp16';
  private readonly halves = new Map<number, Uint16Array>();
  private readonly k = loadBinding().kernels;

  private toHalf(bucket: GradientBucket, size: number): Uint16Array {
    let h = this.halves.get(bucket.index);
    if (!h || h.length !== bucket.data.length) {
      h = new Uint16Array(bucket.data.length);
      this.halves.set(bucket.index, h);
    }
    this.k.castToHalf(bucket.data, h, 1 / size, false);
    return h;
  }

  async reduce(bucket: GradientBucket, comm: Communicator, algorithm: string | undefined): Promise<void> {
    const h = this.toHalf(bucket, comm.size);
    await comm.allreduce(h, algorithm === undefined ? { op: 'sum', dtype: 'float16' } : { op: 'sum', dtype: 'float16', algorithm });
    this.k.castFromHalf(h, bucket.data, 1, false);
  }

  reduceSync(bucket: GradientBucket, comm: Communicator, algorithm: string | undefined): void {
    const h = this.toHalf(bucket, comm.size);
    comm.allreduceSync(h, algorithm === undefined ? { op: 'sum', dtype: 'float16' } : { op: 'sum', dtype: 'float16', algorithm });
    this.k.castFromHalf(h, bucket.data, 1, false);
  }
}
