import * as fs from 'fs';
import * as path from 'path';
import { fashionMnistDirFromEnv } from '../comm/config';
import type { Dataset } from './dataset';
import { readIdx } from './idx';
import { checkOptions } from '../common/args';

/** Where {@link loadFashionMnist} found its files, and whether it is the full set or the slice. */
export interface FashionMnist {
  train: Dataset;
  test: Dataset;
  dir: string;
  /** True when the full set was missing and the committed slice was used. */
  slice: boolean;
  /** The directories that were searched for the full set, in order. */
  searched: string[];
}

const FILES = {
  trainImages: 'train-images-idx3-ubyte.gz',
  trainLabels: 'train-labels-idx1-ubyte.gz',
  testImages: 't10k-images-idx3-ubyte.gz',
  testLabels: 't10k-labels-idx1-ubyte.gz',
};

/** The small slice of the real set committed with the package (2,000 train, 500 test images). */
export const SLICE_DIR = path.join(__dirname, '..', '..', 'data', 'fashion-mnist-slice');

/**
 * The directories searched for the full set: FASHION_MNIST_DIR alone when it is set (an
 * explicit choice is not second-guessed), else Debian's package and ./data/fashion-mnist.
 */
export function fashionMnistDirs(): string[] {
  const explicit = fashionMnistDirFromEnv();
  if (explicit) return [explicit];
  return ['/usr/share/datasets/fashion-mnist', path.resolve('data', 'fashion-mnist')];
}

function complete(dir: string): boolean {
  return Object.values(FILES).every((f) => fs.existsSync(path.join(dir, f)));
}

/**
 * Loads one split of an MNIST-format directory: the pixel bytes as they are in the file (a
 * quarter of the memory of floats, and no large temporary), with `scale` 1/255 so batches come
 * out in [0, 1] (as torchvision's ToTensor), and the labels. Checks the dimensions and that the
 * counts agree.
 */
export function loadMnistSplit(dir: string, split: 'train' | 't10k'): Dataset {
  const imagesFile = path.join(dir, `${split}-images-idx3-ubyte.gz`);
  const labelsFile = path.join(dir, `${split}-labels-idx1-ubyte.gz`);
  const images = readIdx(imagesFile);
  const labels = readIdx(labelsFile);
  if (images.dims.length !== 3) throw new Error(`${imagesFile}: expected 3 dimensions (count x rows x cols), got ${images.dims.length}`);
  if (labels.dims.length !== 1) throw new Error(`${labelsFile}: expected 1 dimension, got ${labels.dims.length}`);
  const [count, rows, cols] = images.dims;
  if (labels.dims[0] !== count) throw new Error(`${labelsFile}: ${labels.dims[0]} labels for the ${count} images of ${imagesFile}`);
  const features = rows * cols;
  let classes = 0;
  for (const l of labels.data) classes = Math.max(classes, l + 1);
  return { x: images.data, y: labels.data, count, features, classes: Math.max(classes, 10), scale: 1 / 255 };
}

/**
 * Fashion-MNIST from FASHION_MNIST_DIR when set, else the first complete directory of
 * /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist) and ./data/fashion-mnist;
 * else the slice committed with dtrain (`slice: true`, with `searched`: the caller says so).
 *
 * @param options.sliceOnly use the committed slice even where the full set exists (tests)
 */
export function loadFashionMnist(options: { dir?: string; sliceOnly?: boolean } = {}): FashionMnist {
  checkOptions(options, ['dir', 'sliceOnly'], 'data.loadFashionMnist');
  const searched = options.dir ? [options.dir] : fashionMnistDirs();
  const dir = options.sliceOnly ? undefined : searched.find(complete);
  if (options.dir && !dir && !options.sliceOnly) {
    const missing = Object.values(FILES).filter((f) => !fs.existsSync(path.join(options.dir as string, f)));
    throw new Error(`${options.dir}: missing ${missing.join(', ')}`);
  }
  const from = dir ?? SLICE_DIR;
  return {
    train: loadMnistSplit(from, 'train'),
    test: loadMnistSplit(from, 't10k'),
    dir: from,
    slice: !dir,
    searched,
  };
}
