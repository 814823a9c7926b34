'use strict';
// dtrain.cuda and the GPU libraries found at run time. On a machine without a GPU (CI) every
// call but deviceCount() and info() is ERR_DTRAIN_NO_GPU naming the libraries tried, and
// `dtrain info` says what was found; with a GPU, device buffers round-trip host arrays.
const { expect } = require('chai');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const dtrain = require('..');
const { ROOT } = require('./helpers');

describe('dtrain.cuda', function () {
  const devices = dtrain.cuda.deviceCount();

  it('info() names every library tried and says why each is unusable; dtrain info prints the same', function () {
    const i = dtrain.cuda.info();
    expect(i.cuda.tried).to.include.members(['libcudart.so.13', 'libcudart.so.12']);
    expect(i.nccl.tried).to.include('libnccl.so.2');
    expect(i.cuda.devices).to.equal(devices);
    if (devices === 0) {
      expect(i.cuda.usable).to.equal(false);
      expect(i.cuda.reason).to.match(/libcudart|device|driver/);
      expect(i.nccl.usable).to.equal(false);
    }
    const out = JSON.parse(spawnSync(process.execPath, [path.join(ROOT, 'bin', 'dtrain.js'), 'info'], { encoding: 'utf8' }).stdout);
    expect(out.cuda).to.deep.equal(i.cuda);
    expect(out.nccl).to.deep.equal(i.nccl);
  });

  it('argument errors come first, whatever the machine', function () {
    expect(() => dtrain.cuda.alloc(-1)).to.throw(RangeError, /whole number of elements/);
    expect(() => dtrain.cuda.alloc(4, 'complex64')).to.throw(RangeError, /dtype must be one of float32/);
    expect(() => dtrain.cuda.alloc(4, 'float32', { devise: 0 })).to.throw(/devise/);
  });

  it('without a GPU: alloc is ERR_DTRAIN_NO_GPU naming the libraries tried', function () {
    if (devices > 0) this.skip();
    let err;
    try {
      dtrain.cuda.alloc(1024);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(dtrain.DtrainError);
    expect(err.code).to.equal('ERR_DTRAIN_NO_GPU');
    expect(err.message).to.match(/dtrain\.cuda\.alloc: no CUDA device or library was found \(tried libcudart\.so\.13, libcudart\.so\.12, libcudart\.so\.11\.0, libcudart\.so: /);
  });

  it('with a GPU: a device buffer round-trips a host array exactly, and refuses wrong sizes', function () {
    if (devices === 0) {
      console.log('      (no CUDA device here: the round trip runs where there is one)');
      this.skip();
    }
    const src = Float32Array.from({ length: 1000 }, (_, i) => i * 0.5 - 7);
    const buf = dtrain.cuda.alloc(1000);
    buf.copyFrom(src);
    expect(Array.from(buf.copyTo(new Float32Array(1000)))).to.deep.equal(Array.from(src));
    expect(() => buf.copyFrom(new Float32Array(1001))).to.throw(RangeError);
    expect(() => buf.copyFrom(new Float64Array(10))).to.throw(TypeError, /4-byte elements/);
    buf.free();
    expect(() => buf.copyTo(new Float32Array(1))).to.throw(/freed/);
  });
});
