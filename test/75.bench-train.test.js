'use strict';
// `dtrain bench gemm` and `dtrain bench train` as a user runs them (short settings).
const { expect } = require('chai');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { ROOT } = require('./helpers');

const CLI = path.join(ROOT, 'bin', 'dtrain.js');

function dtrain(args) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300000 });
  expect(r.status, r.stderr).to.equal(0);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

describe('dtrain bench gemm / train', function () {
  it('bench gemm: the FMA peak, every product of the MLP at every level, and the step aggregate', function () {
    const lines = dtrain(['bench', 'gemm', '--batches', '32', '--min-time', '0.01', '--json', '--no-numpy']);
    const peaks = lines.filter((l) => l.kind === 'fma_peak');
    expect(peaks.length).to.be.at.least(1);
    for (const p of peaks) expect(p.GFLOPs).to.be.closeTo(p.fma_per_cycle * p.lanes * 2 * p.clock_GHz, 0.05 * p.GFLOPs);
    const gemm = lines.filter((l) => l.kind === 'gemm');
    expect(gemm).to.have.length(9 * peaks.length);
    expect(gemm.map((l) => `${l.op} ${l.m}x${l.n}x${l.k}`)).to.include.members(['forward 32x512x784', 'grad_weight 512x784x32', 'grad_input 32x784x512']);
    for (const l of gemm) expect(l.GFLOPs).to.be.above(0);
    const [step] = lines.filter((l) => l.kind === 'mlp_step');
    expect(step).to.include({ batch: 32, flops_per_sample: 2407424 });
  });

  it('bench gemm with the numpy peer prints a comparison per product', function () {
    const py = spawnSync('/usr/bin/python3', ['-c', 'import numpy'], { stdio: 'ignore' });
    if (py.status !== 0) this.skip();
    const lines = dtrain(['bench', 'gemm', '--batches', '64', '--min-time', '0.01', '--json', '--isa', 'scalar']);
    const cmp = lines.filter((l) => l.kind === 'compare');
    expect(cmp).to.have.length(9);
    for (const c of cmp) expect(c.ratio).to.be.closeTo(c.dtrain_GFLOPs / c.numpy_GFLOPs, 0.01);
    expect(lines.find((l) => l.kind === 'mlp_step').ratio).to.be.a('number');
  });

  it('bench train: np 1 and 2, scaling efficiency, and the plot', function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-bench-'));
    const plot = path.join(dir, 'train.svg');
    const lines = dtrain(['bench', 'train', '--np', '1,2', '--batches', '32', '--steps', '20', '--warmup', '2', '--no-torch', '--no-tfjs', '--json', '--plot', plot]);
    const train = lines.filter((l) => l.kind === 'train');
    expect(train.map((l) => l.np)).to.deep.equal([1, 2]);
    expect(train[1].bytes_sent_per_step).to.be.within(535818 * 4, 535818 * 4 + 4096);
    const cmp = lines.find((l) => l.kind === 'compare' && l.np === 2);
    expect(cmp.dtrain_scaling_efficiency).to.be.closeTo(train[1].samples_per_s / (2 * train[0].samples_per_s), 0.001);
    const svg = fs.readFileSync(plot, 'utf8');
    expect(svg).to.match(/^<svg /);
    expect(svg).to.include('dtrain, 2 workers');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
