import { NoCompression, type Compressor } from './compressor';
import { DGC } from './dgc';
import { Fp16Compression } from './fp16';
import { OneBit } from './onebit';
import { QSGD } from './qsgd';
import { TernGrad } from './terngrad';

/** The compressors by name (with their default settings), for the `compression` option. */
const REGISTRY: Record<string, () => Compressor> = {
  none: () => new NoCompression(),
  fp16: () => new Fp16Compression(),
  dgc: () => new DGC(),
  qsgd: () => new QSGD(),
  terngrad: () => new TernGrad(),
  onebit: () => new OneBit(),
};

/** The names `compression` accepts. */
export function compressorNames(): string[] {
  return Object.keys(REGISTRY);
}

/** A compressor from a name or an instance. */
export function makeCompressor(c: string | Compressor | undefined): Compressor {
  if (c === undefined) return new NoCompression();
  if (typeof c === 'string') {
    const make = Object.hasOwn(REGISTRY, c) ? REGISTRY[c] : undefined;
    if (!make) throw new RangeError(`compression must be one of ${compressorNames().join(', ')} (or a Compressor), got '${c}'`);
    return make();
  }
  const o = c as Partial<Compressor> | null;
  if (o === null || typeof o !== 'object' || typeof o.reduce !== 'function' || typeof o.reduceSync !== 'function' || typeof o.name !== 'string' || (o.config !== undefined && typeof o.config !== 'string')) {
    throw new TypeError('compression must be a name or a Compressor: an object with name, reduce(bucket, comm, algorithm), reduceSync(bucket, comm, algorithm) and optionally config');
  }
  return c;
}

/**
 * A compressor rebuilt from its `config` string (`'qsgd levels=15 chunk=512'`), as a process
 * that only decodes (a parameter server) needs it: the settings that shape a message are in the
 * string; seeds are not, as decoding does not draw.
 */
export function compressorFromConfig(config: string): Compressor {
  const [name, ...pairs] = config.trim().split(/\s+/);
  const kv = new Map(pairs.map((p) => p.split('=') as [string, string]));
  const num = (k: string): number | undefined => (kv.has(k) ? Number(kv.get(k)) : undefined);
  switch (name) {
    case 'none':
      return new NoCompression();
    case 'fp16':
      return new Fp16Compression();
    case 'qsgd':
      return new QSGD({ levels: num('levels'), chunk: num('chunk'), seed: 0 });
    case 'terngrad':
      return new TernGrad({ chunk: num('chunk'), seed: 0 });
    case 'onebit':
      return new OneBit({ errorFeedback: kv.get('feedback') !== 'false', chunk: num('chunk') });
    case 'dgc': {
      const clip = kv.get('clip');
      return new DGC({
        density: num('density'),
        warmup: kv.get('warmup')?.split('/').filter((x) => x !== '').map(Number),
        momentum: num('momentum'),
        clipNorm: clip === undefined || clip === 'none' ? undefined : Number(clip),
        sampleRatio: num('sample'),
        seed: 0,
      });
    }
    default:
      throw new RangeError(`compression config '${config}' names no known compressor (${compressorNames().join(', ')})`);
  }
}
