import { checkOptions } from '../common/args';

/** A number option checked against a rule, or its default. */
export function numberIn(o: Record<string, unknown>, key: string, dflt: number, ok: (v: number) => boolean, rule: string, who: string): number {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new RangeError(`${who}: ${key} must be ${rule}, got ${String(v)}`);
  return v;
}

export function optionsOf(options: object | undefined, known: readonly string[], who: string): Record<string, unknown> {
  return checkOptions(options, known, who) as Record<string, unknown>;
}

export const isDensity = (v: number): boolean => v > 0 && v <= 1;

/** Float32Array state entries of a saved compressor, checked against the expected lengths. */
export function savedArrays(state: Record<string, unknown>, key: string, lengths: number[], who: string): Float32Array[] | undefined {
  const saved = state[key];
  if (saved === undefined) return undefined;
  if (!Array.isArray(saved) || saved.length !== lengths.length) {
    throw new RangeError(`${who}: the saved state has ${Array.isArray(saved) ? saved.length : 'no'} ${key} entries; this job has ${lengths.length}`);
  }
  return saved.map((a, i) => {
    if (!(a instanceof Float32Array) || a.length !== lengths[i]) {
      throw new RangeError(`${who}: saved ${key}[${i}] has ${a instanceof Float32Array ? a.length : 'no'} elements; bucket ${i} has ${lengths[i]}`);
    }
    return a;
  });
}
