import { InvalidArgumentError } from 'commander';

/** The compressions `dtrain simulate --train` knows, as the DistributedOptimizer names them. */
export const COMPRESSIONS = ['none', 'fp16', 'dgc', 'qsgd', 'terngrad', 'onebit'] as const;
export type CompressionKind = (typeof COMPRESSIONS)[number];

/** Elements per norm (QSGD) or scale (TernGrad): the QSGD paper's bucket size d = 512. */
export const QUANT_CHUNK = 512;
/** DGC's density when `dgc` names none: the paper's 99.9% sparsity. */
export const DEFAULT_DGC_DENSITY = 0.001;
/** QSGD's levels when `qsgd` names none: s = 15, a sign bit and 4 level bits per element. */
export const DEFAULT_QSGD_LEVELS = 15;

/** How one compression puts a step's gradients on the wire. */
export interface WireFormat {
  /** With its parameter, as printed: none, fp16, dgc:0.001, qsgd:15, terngrad, onebit. */
  name: string;
  kind: CompressionKind;
  /**
   * All-reduce where the format can be summed on the wire (float32, float16); all-gather where
   * it cannot (sparse pairs, packed codes): every rank receives every other rank's code.
   */
  collective: 'allreduce' | 'allgather';
  /** dgc: the fraction of elements sent. */
  density?: number;
  /** qsgd: s, the number of levels. */
  levels?: number;
}

/**
 * Parses one compression, `name` or `name:param` (dgc:DENSITY, qsgd:LEVELS).
 *
 * @throws InvalidArgumentError for an unknown name or a parameter out of range
 */
export function parseCompression(text: string): WireFormat {
  const [kind, param, extra] = text.trim().split(':');
  if (!(COMPRESSIONS as readonly string[]).includes(kind) || extra !== undefined) {
    throw new InvalidArgumentError(
      `unknown compression '${text}'; known: ${COMPRESSIONS.join(', ')} (dgc:DENSITY and qsgd:LEVELS take a parameter)`,
    );
  }
  const k = kind as CompressionKind;
  if (k === 'dgc') {
    const d = param === undefined ? DEFAULT_DGC_DENSITY : Number(param);
    if (param?.trim() === '' || !Number.isFinite(d) || !(d > 0 && d <= 1)) {
      throw new InvalidArgumentError(`dgc's density must be in (0, 1], got '${param}'`);
    }
    return { name: `dgc:${d}`, kind: k, collective: 'allgather', density: d };
  }
  if (k === 'qsgd') {
    const s = param === undefined ? DEFAULT_QSGD_LEVELS : Number(param);
    if (!/^\d+$/.test(param ?? '1') || !Number.isInteger(s) || s < 1 || s > 2 ** 24) {
      throw new InvalidArgumentError(`qsgd's levels must be a whole number from 1 to 2^24, got '${param}'`);
    }
    return { name: `qsgd:${s}`, kind: k, collective: 'allgather', levels: s };
  }
  if (param !== undefined) throw new InvalidArgumentError(`${k} takes no parameter (got '${text}')`);
  return { name: k, kind: k, collective: k === 'none' || k === 'fp16' ? 'allreduce' : 'allgather' };
}

/** Commander parser for a comma-separated list of compressions. */
export function compressionList(value: string): WireFormat[] {
  return value.split(',').map(parseCompression);
}

/** Level bit-planes QSGD needs for s levels: ceil(log2(s + 1)) (as lib/kernels counts them). */
function qsgdPlanes(levels: number): number {
  let p = 0;
  while (2 ** p <= levels) p++;
  return p;
}

/** DGC's pairs for n elements at density d: ceil(n d), at least 1 (as the kernel counts). */
export function dgcPairs(n: number, density: number): number {
  return Math.min(n, Math.max(1, Math.ceil(n * Math.fround(density))));
}

/**
 * Bytes of one rank's message for `n` float32 gradients in `tensors` tensors: the vector that is
 * all-reduced (none, fp16), or the code one rank contributes to the all-gather, laid out as the
 * kernels lay it out (bit-planes of ceil(n/8) bytes):
 * - dgc: ceil(n d) (uint32 index, float32 value) pairs;
 * - qsgd: a sign plane and ceil(log2(s+1)) level planes, one float32 norm per 512 elements;
 * - terngrad: a nonzero plane and a sign plane, one float32 scale per 512 elements;
 * - onebit: a sign plane, one float32 scale per 512 elements of each tensor (at most
 *   ceil(n / 512) + tensors scales).
 */
export function wireBytes(f: WireFormat, n: number, tensors: number): number {
  const plane = Math.ceil(n / 8);
  const chunks = Math.ceil(n / QUANT_CHUNK);
  switch (f.kind) {
    case 'none':
      return 4 * n;
    case 'fp16':
      return 2 * n;
    case 'dgc':
      return 8 * dgcPairs(n, f.density ?? DEFAULT_DGC_DENSITY);
    case 'qsgd':
      return (1 + qsgdPlanes(f.levels ?? DEFAULT_QSGD_LEVELS)) * plane + 4 * chunks;
    case 'terngrad':
      return 2 * plane + 4 * chunks;
    case 'onebit':
      return plane + 4 * (chunks + tensors);
  }
}
