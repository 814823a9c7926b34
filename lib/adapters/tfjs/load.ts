import * as path from 'path';
import type * as tfc from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type * as tfd from '@tensorflow/tfjs-data';

/** The TensorFlow.js packages `dtrain/tfjs` works with: the application's own copies. */
export interface Tfjs {
  core: typeof tfc;
  layers: typeof tfl;
}

const INSTALL =
  'npm install @tensorflow/tfjs (or @tensorflow/tfjs-core and @tensorflow/tfjs-layers >= 4, with a backend: ' +
  '@tensorflow/tfjs-backend-cpu or @tensorflow/tfjs-backend-wasm)';

/**
 * Where tfjs is looked for, in order: beside the application's main script, the working
 * directory, then beside dtrain itself. The application's copy comes first because tfjs-layers
 * checks models with `instanceof`: dtrain's callbacks must extend the very classes the
 * application's models were built with.
 */
export function tfjsSearchPaths(): string[] {
  const main = require.main?.filename;
  return [...(main ? [path.dirname(main)] : []), process.cwd(), __dirname];
}

function resolveFrom(name: string, paths: string[]): string | undefined {
  try {
    return require.resolve(name, { paths });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return undefined;
    throw err;
  }
}

// A package as the application sees it: through the union package @tensorflow/tfjs when there
// is one (the copy it uses, which may be nested under it, is the one the application's models
// come from), else directly.
function resolvePart(name: string, paths: string[]): string | undefined {
  const union = resolveFrom('@tensorflow/tfjs', paths);
  return (union && resolveFrom(name, [path.dirname(union)])) || resolveFrom(name, paths);
}

function missing(what: string, paths: string[]): Error {
  return Object.assign(
    new Error(`dtrain/tfjs: ${what} is not installed (searched from ${paths.join(', ')}); ${INSTALL}`),
    { code: 'MODULE_NOT_FOUND' },
  );
}

/**
 * Loads tfjs-core and tfjs-layers from the application (see {@link tfjsSearchPaths}).
 *
 * @throws Error with code MODULE_NOT_FOUND naming the packages to install
 */
export function loadTfjs(paths: string[] = tfjsSearchPaths()): Tfjs {
  const layersFile = resolvePart('@tensorflow/tfjs-layers', paths);
  if (!layersFile) throw missing('TensorFlow.js (@tensorflow/tfjs-layers)', paths);
  const coreFile = resolveFrom('@tensorflow/tfjs-core', [path.dirname(layersFile), ...paths]);
  if (!coreFile) throw missing('@tensorflow/tfjs-core', paths);
  const core = require(coreFile) as typeof tfc;
  const major = Number(core.version_core?.split('.')[0]);
  if (!(major >= 4)) throw new Error(`dtrain/tfjs: needs @tensorflow/tfjs-core >= 4, found ${core.version_core} at ${coreFile}; ${INSTALL}`);
  return { core, layers: require(layersFile) as typeof tfl };
}

let loaded: Tfjs | undefined;

/** The application's tfjs, loaded once. */
export function tfjs(): Tfjs {
  loaded ??= loadTfjs();
  return loaded;
}

/** tfjs-data, for sharding a `tf.data.Dataset` (loaded when first needed). */
export function tfjsData(): typeof tfd {
  const paths = tfjsSearchPaths();
  const file = resolvePart('@tensorflow/tfjs-data', paths);
  if (!file) throw missing('@tensorflow/tfjs-data (needed to shard a tf.data.Dataset)', paths);
  return require(file) as typeof tfd;
}
