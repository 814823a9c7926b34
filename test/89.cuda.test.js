'use strict';
// dtrain.cuda and the GPU libraries found at run time. On a machine without a GPU (CI) every
// call but deviceCount() and info() is ERR_DTRAIN_NO_GPU naming the libraries tried, and
// `dtrain info` says what was found; with a GPU, device buffers round-trip host arrays.
const { expect } = require('chai');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const dtrain = require('..');
const fs = require('node:fs');
const { ROOT, runJob, describeJob } = require('./helpers');

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

  it('lists the kernels library it looks for, and says whether it is built and why it is not loaded', function () {
    const k = dtrain.cuda.info().kernels;
    expect(k.tried).to.deep.equal(dtrain.cuda.kernelLibraryCandidates());
    expect(k.tried[0]).to.equal(path.join(ROOT, 'build', 'cuda', 'libdtrain_cuda.so'));
    const built = k.tried.find((p) => fs.existsSync(p));
    expect(k.library).to.equal(built ?? null);
    if (devices === 0) {
      expect(k.loaded).to.equal(false);
      expect(k.reason).to.match(built ? /is present; it is loaded where a CUDA device is/ : /libdtrain_cuda\.so is not built \(looked for .*build\/cuda\/libdtrain_cuda\.so/);
    }
    const out = JSON.parse(spawnSync(process.execPath, [path.join(ROOT, 'bin', 'dtrain.js'), 'info'], { encoding: 'utf8' }).stdout);
    expect(out.cudaKernels).to.deep.equal(k);
    expect(out.algorithms).to.include('nccl');
  });

  it('libdtrain_cuda.so (built by nvcc where it is found) loads through the addon, and another library is refused', function () {
    const lib = dtrain.cuda.kernelLibraryCandidates().find((p) => fs.existsSync(p));
    if (!lib) {
      console.log('      (libdtrain_cuda.so is not built here: no nvcc)');
      this.skip();
    }
    // A shared library that is not dtrain's CUDA one: the addon itself, wherever this build has it.
    const other = [path.join(ROOT, 'build', 'Release', 'dtrain.node'), path.join(ROOT, 'prebuilds', `${process.platform}-${process.arch}`, 'dtrain.node')].find((p) => fs.existsSync(p));
    if (!other) {
      console.log('      (no dtrain.node file to refuse: the addon was loaded from elsewhere)');
      this.skip();
    }
    // In a child: the library is loaded once per process, so the refusal must come first.
    const script = `
      const b = require(${JSON.stringify(path.join(ROOT, 'dist', 'native.js'))}).loadBinding();
      let refused;
      try { b.cuda.loadKernels(${JSON.stringify(other)}); } catch (e) { refused = e.code + ': ' + e.message; }
      let missing;
      try { b.cuda.loadKernels('/nonexistent/libdtrain_cuda.so'); } catch (e) { missing = e.message; }
      const said = b.cuda.loadKernels(${JSON.stringify(lib)});
      console.log(JSON.stringify({ refused, missing, said, probe: b.cuda.probe().kernels }));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    const o = JSON.parse(r.stdout);
    expect(o.refused).to.match(/^ERR_DTRAIN_NO_GPU: .*dtrain\.node does not export dtrain_cuda_kernels: it is not dtrain's CUDA library/);
    expect(o.missing).to.match(/cannot load \/nonexistent\/libdtrain_cuda\.so: .*No such file/);
    expect(o.said).to.match(/^CUDA runtime \d+ \(static\), built for 90-real \+ 90-virtual$/);
    expect(o.probe).to.deep.equal({ loaded: true, library: lib, reason: o.said });
  });

  it('the kernels, streams and device collectives check their arguments first, then say there is no GPU', async function () {
    expect(() => dtrain.cuda.castToHalf(new Float32Array(4), new Uint16Array(4))).to.throw(TypeError, /src must be a DeviceBuffer \(cuda\.alloc\)/);
    expect(() => dtrain.cuda.sgdStep([], { lr: 0.1 })).to.throw(TypeError, /tensors must be a non-empty Array/);
    expect(() => dtrain.cuda.stream({ devise: 1 })).to.throw(/devise/);
    expect(() => dtrain.cuda.qsgdEncode(new Float32Array(4), new Uint8Array(4), { levels: 15 })).to.throw(TypeError, /x must be a DeviceBuffer/);
    expect(() => dtrain.cuda.dgcStep(1, 2, 3, 4, 5)).to.throw(TypeError, /u must be a DeviceBuffer/);
    expect(() => dtrain.cuda.signDecode(null, null, { scale: 1 })).to.throw(TypeError, /code must be a DeviceBuffer/);
    expect(dtrain.cuda.dgcTargetCount(1000, 0.001)).to.equal(2); // density is float32, as natively
    expect(dtrain.cuda.dgcTargetCount(100000, 0.001)).to.equal(101);
    expect(dtrain.cuda.dgcTargetCount(0, 0.5)).to.equal(0);
    if (devices > 0) return;
    let err;
    try {
      dtrain.cuda.stream();
    } catch (e) {
      err = e;
    }
    expect(err.code).to.equal('ERR_DTRAIN_NO_GPU');
    expect(err.message).to.match(/^dtrain\.cuda\.stream: no CUDA device or library was found \(tried libcudart\.so\.13/);
    expect(dtrain.cuda.defaultDevice()).to.equal(0);
  });

  it("algorithm 'nccl' on host arrays is refused on every rank, naming what it needs, and the job goes on", async function () {
    const job = await runJob({ np: 2, script: 'cuda.js', args: ['host-nccl'] });
    expect(job.code, describeJob(job)).to.equal(0);
    expect(job.results).to.have.length(2);
    for (const r of job.results) {
      expect(r.refused).to.equal(true);
      expect(r.name).to.equal('RangeError');
      expect(r.code).to.equal('ERR_DTRAIN_INVALID_ARG');
      expect(r.message).to.match(/algorithm 'nccl' runs on device buffers \(dtrain\.cuda\.alloc\); allreduce of host arrays takes dtrain's algorithms/);
      expect(r.gatherMessage).to.match(/algorithm 'nccl' runs on device buffers/);
      expect(r.after).to.deep.equal([3]);
    }
  });

  it('with a GPU per rank (one or two): every collective on device buffers matches the host result, and the kernels the CPU', async function () {
    const nccl = dtrain.cuda.info().nccl;
    if (devices === 0 || !nccl.usable) {
      console.log(`      (${devices} CUDA device(s), NCCL ${nccl.usable ? 'usable' : 'not usable'}: this runs where there are both)`);
      this.skip();
    }
    const np = Math.min(devices, 2);
    const job = await runJob({ np, script: 'cuda.js', args: ['device'], timeoutMs: 180000 });
    expect(job.code, describeJob(job)).to.equal(0);
    expect(job.results).to.have.length(np);
    for (const r of job.results) {
      expect(r.device).to.equal(r.rank);
      for (const [algorithm, worst] of Object.entries(r.results)) expect(worst, algorithm).to.be.at.most(1e-3);
      expect(r.broadcast).to.equal(true);
      expect(r.allgather).to.deep.equal(np === 2 ? [0, 0, 0, 0, 1, 1, 1, 1] : [0, 0, 0, 0]);
      expect(r.reduceScatter).to.deep.equal(np === 2 ? [3, 3, 3] : [1, 1, 1]);
      expect(r.castToHalf).to.equal(true);
      expect(r.overflow).to.equal(false);
      expect(r.qsgd).to.equal(true);
      expect(r.sign).to.equal(true);
    }
  });
});
