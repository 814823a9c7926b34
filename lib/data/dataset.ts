/**
 * An in-memory classification data set: `count` rows of `features` values and a label per row.
 * Rows are float32, or bytes (as images are stored: 4x less memory) that batches turn into
 * floats times `scale`. Batches are filled from it by {@link BatchLoader}.
 */
export interface Dataset {
  x: Float32Array | Uint8Array;
  y: Uint8Array | Int32Array;
  count: number;
  features: number;
  classes: number;
  /** Multiplies every value as a batch is filled (1/255 for pixel bytes); default 1. */
  scale?: number;
}

/** Checks a data set's shape (used by the loader and the Trainer). */
export function checkDataset(d: unknown, who: string): Dataset {
  if (d === null || typeof d !== 'object') throw new TypeError(`${who}: a data set must be { x, y, count, features, classes }`);
  const { x, y, count, features, classes } = d as Dataset;
  if (!(x instanceof Float32Array || x instanceof Uint8Array)) throw new TypeError(`${who}: x must be a Float32Array or a Uint8Array`);
  const scale = (d as Dataset).scale;
  if (scale !== undefined && !(typeof scale === 'number' && Number.isFinite(scale))) throw new RangeError(`${who}: scale must be a finite number`);
  if (!(y instanceof Uint8Array || y instanceof Int32Array)) throw new TypeError(`${who}: y must be a Uint8Array or an Int32Array`);
  for (const [v, name] of [
    [count, 'count'],
    [features, 'features'],
    [classes, 'classes'],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${who}: ${name} must be a positive integer, got ${String(v)}`);
  }
  if (x.length !== count * features) throw new RangeError(`${who}: x has ${x.length} values; ${count} rows x ${features} features need ${count * features}`);
  if (y.length !== count) throw new RangeError(`${who}: y has ${y.length} labels for ${count} rows`);
  return d as Dataset;
}
