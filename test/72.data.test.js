'use strict';
// Data: the idx reader and its errors, the committed Fashion-MNIST slice, DistributedSampler
// shards (disjoint, covering, the same on every rank, torch's padding), and batch filling.
const { expect } = require('chai');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { spawnSync } = require('node:child_process');
const { data } = require('..');
const { torchPython } = require('./torch');

describe('data', function () {
  let dir;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-data-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('idx files', function () {
    it('round-trips, gzip or not', function () {
      const bytes = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i * 7);
      for (const name of ['a.idx', 'a.idx.gz']) {
        data.writeIdx(path.join(dir, name), [2, 3, 4], bytes);
        const r = data.readIdx(path.join(dir, name));
        expect(r.dims).to.deep.equal([2, 3, 4]);
        expect(Array.from(r.data)).to.deep.equal(Array.from(bytes));
      }
    });

    it('names the file and what was expected when it is missing, truncated or not idx', function () {
      expect(() => data.readIdx(path.join(dir, 'none.gz'))).to.throw(/none\.gz: cannot read it \(ENOENT\)/);
      data.writeIdx(path.join(dir, 'b.idx'), [10, 5], new Uint8Array(50));
      const whole = fs.readFileSync(path.join(dir, 'b.idx'));
      fs.writeFileSync(path.join(dir, 'short.idx'), whole.subarray(0, 40));
      expect(() => data.readIdx(path.join(dir, 'short.idx'))).to.throw(/short\.idx: dimensions 10 x 5 need 50 bytes of data, the file has 28 \(truncated\)/);
      const gz = zlib.gzipSync(whole);
      fs.writeFileSync(path.join(dir, 'cut.gz'), gz.subarray(0, gz.length - 10));
      expect(() => data.readIdx(path.join(dir, 'cut.gz'))).to.throw(/cut\.gz: not a valid gzip file .*truncated/);
      fs.writeFileSync(path.join(dir, 'text.idx'), 'hello world');
      expect(() => data.readIdx(path.join(dir, 'text.idx'))).to.throw(/text\.idx: not an idx file/);
    });

    it('loads the committed Fashion-MNIST slice (2,000 + 500 real images, scaled to [0, 1])', function () {
      const set = data.loadFashionMnist({ sliceOnly: true });
      expect(set.slice).to.equal(true);
      expect(set.train.count).to.equal(2000);
      expect(set.test.count).to.equal(500);
      expect(set.train.features).to.equal(784);
      expect(set.train.classes).to.equal(10);
      let max = 0;
      for (const v of set.train.x) max = Math.max(max, v);
      expect(max).to.equal(255); // bytes, turned into [0, 1] as batches are filled
      expect(set.train.scale).to.equal(1 / 255);
      const b = new data.BatchLoader(set.train, 2).fill(Int32Array.of(7, 3), 0);
      for (let j = 0; j < 784; j++) expect(b.x[j]).to.equal(Math.fround(set.train.x[7 * 784 + j] * Math.fround(1 / 255)));
      const counts = new Array(10).fill(0);
      for (const l of set.train.y) counts[l]++;
      expect(Math.min(...counts)).to.be.above(150); // every class is there
    });

    it('a directory missing a file is an error naming what is missing', function () {
      fs.mkdirSync(path.join(dir, 'fm'));
      fs.copyFileSync(path.join(data.SLICE_DIR, 'train-images-idx3-ubyte.gz'), path.join(dir, 'fm', 'train-images-idx3-ubyte.gz'));
      expect(() => data.loadFashionMnist({ dir: path.join(dir, 'fm') })).to.throw(/missing train-labels-idx1-ubyte\.gz, t10k-images/);
    });
  });

  describe('DistributedSampler', function () {
    it('gives disjoint shards that cover every sample, the same count on every rank', function () {
      for (const n of [1, 7, 10, 64, 103]) {
        for (const size of [1, 2, 3, 5]) {
          for (const dropLast of [false, true]) {
            if (dropLast && n < size) continue;
            const shards = Array.from({ length: size }, (_, rank) =>
              Array.from(new data.DistributedSampler(n, { rank, size, seed: 3, dropLast }).indices()),
            );
            const per = dropLast ? Math.floor(n / size) : Math.ceil(n / size);
            shards.forEach((s) => expect(s).to.have.length(per));
            const all = shards.flat();
            const distinct = new Set(all);
            if (dropLast) {
              expect(distinct.size, `n ${n} size ${size}`).to.equal(all.length); // disjoint
            } else {
              expect(distinct.size, `n ${n} size ${size}`).to.equal(n); // covering
              expect(all.length - distinct.size).to.equal(per * size - n); // only the padding repeats
            }
          }
        }
      }
    });

    it('shuffles the same way on every rank, differently per epoch, reproducibly', function () {
      const a = new data.DistributedSampler(50, { rank: 0, size: 1, seed: 9 });
      const b = new data.DistributedSampler(50, { rank: 0, size: 1, seed: 9 });
      const e0 = Array.from(a.indices());
      expect(Array.from(b.indices())).to.deep.equal(e0);
      a.setEpoch(1);
      expect(Array.from(a.indices())).to.not.deep.equal(e0);
      expect([...a.indices()].sort((x, y) => x - y)).to.deep.equal([...Array(50).keys()]);
      const other = new data.DistributedSampler(50, { rank: 0, size: 1, seed: 10 });
      expect(Array.from(other.indices())).to.not.deep.equal(e0);
    });

    it('pads and strides as torch.utils.data.DistributedSampler (shuffle off)', function () {
      const py = torchPython();
      if (!py) this.skip();
      const code =
        'import json, torch.utils.data as d\n' +
        'out = {}\n' +
        'for n, size, drop in [(10, 3, False), (10, 3, True), (7, 4, False), (13, 5, True)]:\n' +
        '  out[f"{n},{size},{drop}"] = [list(d.DistributedSampler(range(n), num_replicas=size, rank=r, shuffle=False, drop_last=drop)) for r in range(size)]\n' +
        'print(json.dumps(out))';
      const r = spawnSync(py, ['-c', code], { encoding: 'utf8' });
      expect(r.status, r.stderr).to.equal(0);
      for (const [key, shards] of Object.entries(JSON.parse(r.stdout))) {
        const [n, size, drop] = key.split(',');
        shards.forEach((want, rank) => {
          const s = new data.DistributedSampler(Number(n), { rank, size: Number(size), shuffle: false, dropLast: drop === 'True' });
          expect(Array.from(s.indices()), key).to.deep.equal(want);
        });
      }
    });

    it('rejects bad options', function () {
      expect(() => new data.DistributedSampler(10, { rank: 2, size: 2 })).to.throw(RangeError, /rank must be an integer in \[0, 2\)/);
      expect(() => new data.DistributedSampler(0, { rank: 0, size: 1 })).to.throw(RangeError, /n must be a positive integer/);
      expect(() => new data.DistributedSampler(10, { rank: 0, size: 1, sed: 1 })).to.throw(TypeError, /unknown option 'sed'/);
    });
  });

  describe('BatchLoader', function () {
    it('fills batches in sampler order into the same arrays, the last one smaller', function () {
      const ds = { x: Float32Array.from({ length: 10 * 3 }, (_, i) => i), y: Uint8Array.from({ length: 10 }, (_, i) => i % 4), count: 10, features: 3, classes: 4 };
      const loader = new data.BatchLoader(ds, 4);
      const order = Int32Array.of(9, 2, 5, 0, 7, 1, 3, 8, 6, 4);
      const batches = [];
      for (const b of loader.epoch(order)) batches.push({ size: b.size, x: Array.from(b.x), y: Array.from(b.y), xs: b.x });
      expect(batches.map((b) => b.size)).to.deep.equal([4, 4, 2]);
      expect(batches[0].x).to.deep.equal([27, 28, 29, 6, 7, 8, 15, 16, 17, 0, 1, 2]);
      expect(batches[2].y).to.deep.equal([2, 0]);
      expect(batches[0].xs.buffer).to.equal(batches[2].xs.buffer); // one allocation
      expect(loader.fill(order, 0).x).to.equal(loader.fill(order, 1).x); // views reused
      expect(new data.BatchLoader(ds, 4, { dropLast: true }).batchesFor(10)).to.equal(2);
      expect(() => loader.fill(Int32Array.of(0, 10), 0)).to.throw(RangeError, /indices\[1\] = 10 is not a row of the data set/);
    });
  });
});
