'use strict';
// The README's main job, examples/fashion-mnist.js, run as a user runs it (through the launcher,
// and alone), on the committed slice so it stays fast.
const { expect } = require('chai');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { ROOT } = require('./helpers');

const CLI = path.join(ROOT, 'bin', 'dtrain.js');
const EXAMPLE = path.join(ROOT, 'examples', 'fashion-mnist.js');

function run(args, env, command = [process.execPath]) {
  return new Promise((resolve) => {
    const child = spawn(command[0], [...command.slice(1), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const FIELDS = [
  'np', 'epochs', 'steps', 'updates', 'skipped_steps', 'loss_scale', 'precision', 'compression', 'batch_per_worker', 'test_acc', 'train_loss',
  'samples_per_s', 'step_ms', 'comm_wait_ms', 'bytes_sent_per_step', 'optimizer', 'lr', 'global_batch', 'batch_schedule',
  // Added by the parameter-server issue: which loop ran, and its wall time.
  'mode', 'wall_s',
];

describe('examples/fashion-mnist.js', function () {
  let empty;
  before(() => (empty = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-nofm-'))));
  after(() => fs.rmSync(empty, { recursive: true, force: true }));

  it('dtrain run -np 2: says where it looked, trains on the slice, ends with the JSON summary', async function () {
    const r = await run([CLI, 'run', '-np', '2', EXAMPLE, '--epochs', '2', '--json'], { FASHION_MNIST_DIR: empty });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include(`Fashion-MNIST not found in ${empty}; training on the 2000-image slice`);
    expect(r.stdout).to.include('apt-get install dataset-fashion-mnist');
    const lines = r.stdout.trim().split('\n');
    const last = lines[lines.length - 1];
    expect(last.startsWith('[0] {')).to.equal(true);
    const summary = JSON.parse(last.slice(4));
    expect(Object.keys(summary)).to.deep.equal(FIELDS);
    expect(summary).to.include({ np: 2, epochs: 2, steps: 16, batch_per_worker: 128 });
    expect(summary.test_acc).to.be.above(0.4); // 16 steps on the slice: well above chance (0.1)
    const epochs = lines.filter((l) => l.startsWith('[0] {"epoch"')).map((l) => JSON.parse(l.slice(4)));
    expect(epochs.map((m) => m.epoch)).to.deep.equal([1, 2]);
    expect(lines.some((l) => l.startsWith('[1] {'))).to.equal(false); // only rank 0 reports
  });

  it('node examples/fashion-mnist.js is a job of one', async function () {
    const r = await run([EXAMPLE, '--epochs', '1', '--batch-per-worker', '100', '--optimizer', 'lars', '--lr', '1'], { FASHION_MNIST_DIR: empty });
    expect(r.code, r.stderr).to.equal(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop());
    expect(summary).to.include({ np: 1, steps: 20, batch_per_worker: 100, bytes_sent_per_step: 0 });
  });

  it('draws a progress bar on the launcher\'s terminal (a pseudo-terminal from script(1))', async function () {
    const script = ['/usr/bin/script', '/bin/script'].find((p) => fs.existsSync(p));
    if (!script) this.skip();
    const cmd = `${process.execPath} ${CLI} run -np 2 ${EXAMPLE} --epochs 1`;
    const r = await run([], { FASHION_MNIST_DIR: empty }, [script, '-qfec', cmd, '/dev/null']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/epoch 1\/1 \[[=-]+\] \d+\/8 \| loss [0-9.]+ \| [0-9,]+ samples\/s \| ETA/);
    expect(r.stdout).to.match(/\[0\] epoch 1\/1: loss/); // the plain line still comes through the launcher
  });

  it('a bad flag is a clear error with the usage', async function () {
    const r = await run([EXAMPLE, '--optimizer', 'adam'], { FASHION_MNIST_DIR: empty });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/--optimizer must be sgd or lars, got 'adam'/);
    expect(r.stderr).to.include('usage: fashion-mnist.js');
    const warm = await run([EXAMPLE, '--epochs', '1', '--warmup-epochs', '2'], { FASHION_MNIST_DIR: empty });
    expect(warm.code).to.equal(1);
    expect(warm.stderr).to.match(/--warmup-epochs must be >= 0 and less than --epochs \(1\), got '2'/);
    const batch = await run([EXAMPLE, '--batch-per-worker=-5'], { FASHION_MNIST_DIR: empty });
    expect(batch.stderr).to.match(/--batch-per-worker must be a positive integer, got '-5'/);
  });

  // The survey's recipe, one short run each on the slice: the loss falls and the summary says what ran.
  for (const [label, args, want] of [
    ['mixed precision, fp16 on the wire', ['--precision', 'mixed', '--compression', 'fp16'], { precision: 'mixed', compression: 'fp16' }],
    ['bfloat16', ['--precision', 'bf16'], { precision: 'bf16', compression: 'none', skipped_steps: 0 }],
    ['DGC', ['--compression', 'dgc'], { compression: 'dgc' }],
    ['QSGD', ['--compression', 'qsgd', '--qsgd-levels', '7'], { compression: 'qsgd' }],
    ['TernGrad', ['--compression', 'terngrad'], { compression: 'terngrad' }],
    ['1-bit', ['--compression', 'onebit'], { compression: 'onebit' }],
    ['1-bit without error feedback', ['--compression', 'onebit', '--no-error-feedback'], { compression: 'onebit' }],
    ['LARS, warm-up, poly decay at batch 1000', ['--optimizer', 'lars', '--batch-per-worker', '500', '--warmup-epochs', '1', '--schedule', 'poly', '--lr', '5'], { optimizer: 'lars', global_batch: 1000 }],
    ['a growing batch instead of a decaying rate', ['--schedule', 'step', '--decay-epochs', '2', '--decay-factor', '2', '--batch-schedule'], { batch_schedule: true, batch_per_worker: 256 }],
  ]) {
    it(`recipe: ${label}`, async function () {
      const r = await run([CLI, 'run', '-np', '2', EXAMPLE, '--epochs', '3', '--json', '--no-progress', ...args], { FASHION_MNIST_DIR: empty });
      expect(r.code, r.stderr).to.equal(0);
      const lines = r.stdout.trim().split('\n');
      const summary = JSON.parse(lines[lines.length - 1].slice(4));
      expect(summary).to.include(want);
      const epochs = lines.filter((l) => l.startsWith('[0] {"epoch"')).map((l) => JSON.parse(l.slice(4)));
      expect(epochs).to.have.length(3);
      expect(epochs[2].train_loss, JSON.stringify(epochs.map((m) => m.train_loss))).to.be.below(epochs[0].train_loss);
      expect(summary.updates + summary.skipped_steps).to.equal(summary.steps);
    });
  }

  it('recipe flags are checked: unknown compression or precision, a setting for another compressor, bad settings', async function () {
    const cases = [
      [['--compression', 'topk'], /--compression must be one of none, fp16, dgc, qsgd, terngrad, onebit, got 'topk'/],
      [['--precision', 'fp8'], /--precision must be fp32, mixed, bf16, got 'fp8'/],
      [['--qsgd-levels', '4'], /--qsgd-levels applies to --compression qsgd, not none/],
      [['--compression', 'qsgd', '--qsgd-levels', '0'], /QSGD: levels must be an integer from 1/],
      [['--compression', 'dgc', '--dgc-density', '2'], /DGC: density must be in \(0, 1\], got 2/],
      [['--batch-schedule'], /--batch-schedule grows the batch at --schedule step's decay points/],
    ];
    for (const [args, re] of cases) {
      const r = await run([EXAMPLE, '--epochs', '1', ...args], { FASHION_MNIST_DIR: empty });
      expect(r.code, args.join(' ')).to.equal(1);
      expect(r.stderr, args.join(' ')).to.match(re);
    }
  });
});
