// Writes data/fashion-mnist-slice/: the first 2,000 training and 500 test images of the real
// Fashion-MNIST (with their labels), in the original idx format, for tests and for the example
// where the full set is not installed. Usage: node data/make-slice.js [FULL_SET_DIR]
'use strict';
const path = require('path');
const { readIdx, writeIdx } = require('../dist/data/idx');

const from = process.argv[2] || process.env.FASHION_MNIST_DIR || '/usr/share/datasets/fashion-mnist';
const to = path.join(__dirname, 'fashion-mnist-slice');
for (const [split, count] of [['train', 2000], ['t10k', 500]]) {
  const images = readIdx(path.join(from, `${split}-images-idx3-ubyte.gz`));
  const labels = readIdx(path.join(from, `${split}-labels-idx1-ubyte.gz`));
  const [, rows, cols] = images.dims;
  writeIdx(path.join(to, `${split}-images-idx3-ubyte.gz`), [count, rows, cols], images.data.subarray(0, count * rows * cols));
  writeIdx(path.join(to, `${split}-labels-idx1-ubyte.gz`), [count], labels.data.subarray(0, count));
  const hist = new Array(10).fill(0);
  for (const l of labels.data.subarray(0, count)) hist[l]++;
  console.log(`${split}: ${count} images, per class ${hist.join(' ')}`);
}
