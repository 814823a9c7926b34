'use strict';
// Every options object of the public API refuses a key it does not know: a TypeError that names
// the function and the key and lists the options there are (a misspelt option must not fall
// back silently to its default and give wrong numbers).
const { expect } = require('chai');
const dtrain = require('..');

const { kernels: k, nn, optim, data, compress, amp } = dtrain;

const f32 = (n) => new Float32Array(n).fill(0.5);
const tensor = () => ({ weights: f32(4), grad: f32(4), state: new Float32Array(4) });
const params = () => [{ name: 'w', data: f32(4), grad: f32(4) }];
const dataset = () => ({ x: f32(8), y: new Int32Array(2), count: 2, features: 4, classes: 2 });

// [function as the message names it, its options, a call with `opts` as the options object]
const KERNELS = [
  ['kernels.castToHalf', 'scale, out', (opts) => k.castToHalf(f32(4), opts)],
  ['kernels.castToBFloat16', 'scale, out', (opts) => k.castToBFloat16(f32(4), opts)],
  ['kernels.castFromHalf', 'scale, out', (opts) => k.castFromHalf(new Uint16Array(4), opts)],
  ['kernels.castFromBFloat16', 'scale, out', (opts) => k.castFromBFloat16(new Uint16Array(4), opts)],
  ['kernels.reduce', 'op, dtype', (opts) => k.reduce(f32(4), f32(4), opts)],
  ['kernels.sgdStep', 'lr, momentum, weightDecay, gradScale, checkFinite, nesterov', (opts) => k.sgdStep([tensor()], { lr: 0.1, ...opts })],
  ['kernels.larsStep', 'lr, momentum, weightDecay, gradScale, checkFinite, eta', (opts) => k.larsStep([tensor()], { lr: 0.1, ...opts })],
  ['kernels.dgcStep', 'momentum, density, sampleRatio, seed, maxRounds, half', (opts) => k.dgcStep({ u: f32(8), v: f32(8) }, f32(8), opts)],
  ['kernels.qsgdEncode', 'levels, seed, norm, out', (opts) => k.qsgdEncode(f32(8), { levels: 15, ...opts })],
  ['kernels.qsgdDecode', 'out, length, accumulate', (opts) => k.qsgdDecode(k.qsgdEncode(f32(8), { levels: 15 }), { length: 8, ...opts })],
  ['kernels.ternGradEncode', 'seed, out', (opts) => k.ternGradEncode(f32(8), opts)],
  ['kernels.ternGradDecode', 'out, length, accumulate', (opts) => k.ternGradDecode(k.ternGradEncode(f32(8)), { length: 8, ...opts })],
  ['kernels.signEncode', 'out', (opts) => k.signEncode(f32(8), new Float32Array(8), opts)],
  ['kernels.signDecode', 'out, length, accumulate', (opts) => k.signDecode(k.signEncode(f32(8), new Float32Array(8)), { length: 8, ...opts })],
];
// The kernels that take no options object.
const KERNELS_WITHOUT_OPTIONS = ['info', 'topk', 'dgcDecode', 'qsgdPlaneCount', 'qsgdCodeBytes'];

const OTHERS = [
  // From a fresh start: an init() while joined returns the communicator it already has.
  [
    'init',
    'transport, timeout, initTimeout, timeline',
    async (opts) => {
      await dtrain.shutdown();
      return dtrain.init(opts);
    },
  ],
  ['nn.Linear', 'bias, seed', (opts) => new nn.Linear(2, 2, opts)],
  ['lossAndGrad', 'onGrad, accumulate, lossScale', (opts) => new nn.Sequential(new nn.Linear(4, 2)).lossAndGrad(f32(4), new Int32Array(1), 1, opts)],
  ['SGD', 'lr, momentum, nesterov, weightDecay', (opts) => new optim.SGD(params(), { lr: 0.1, ...opts })],
  ['LARS', 'lr, momentum, weightDecay, eta, exclude', (opts) => new optim.LARS(params(), { lr: 0.1, ...opts })],
  ['schedules.linearScaling', 'baseLr, batchSize, referenceBatch', (opts) => optim.schedules.linearScaling({ baseLr: 0.1, batchSize: 256, ...opts })],
  ['schedules.warmup', 'steps, startLr', (opts) => optim.schedules.warmup(0.1, { steps: 10, ...opts })],
  ['schedules.goyal', 'baseLr, batchSize, referenceBatch, warmupSteps, after', (opts) => optim.schedules.goyal({ baseLr: 0.1, batchSize: 512, warmupSteps: 5, ...opts })],
  ['schedules.polynomial', 'lr, totalSteps, power, endLr', (opts) => optim.schedules.polynomial({ lr: 0.1, totalSteps: 10, ...opts })],
  ['schedules.stepDecay', 'lr, stepSize, milestones, gamma', (opts) => optim.schedules.stepDecay({ lr: 0.1, stepSize: 10, ...opts })],
  ['schedules.cosine', 'lr, totalSteps, minLr', (opts) => optim.schedules.cosine({ lr: 0.1, totalSteps: 10, ...opts })],
  ['schedules.oneCycle', 'maxLr, totalSteps, pctStart, divFactor, finalDivFactor', (opts) => optim.schedules.oneCycle({ maxLr: 0.1, totalSteps: 10, ...opts })],
  ['DistributedSampler', 'rank, size, shuffle, seed, dropLast', (opts) => new data.DistributedSampler(10, { rank: 0, size: 1, ...opts })],
  ['BatchLoader', 'dropLast', (opts) => new data.BatchLoader(dataset(), 2, opts)],
  ['data.loadFashionMnist', 'dir, sliceOnly', (opts) => data.loadFashionMnist({ sliceOnly: true, ...opts })],
  ['DGC', 'density, warmup, momentum, clipNorm, sampleRatio, seed', (opts) => new compress.DGC(opts)],
  ['QSGD', 'levels, chunk, seed', (opts) => new compress.QSGD(opts)],
  ['TernGrad', 'chunk, seed', (opts) => new compress.TernGrad(opts)],
  ['OneBit', 'errorFeedback, chunk', (opts) => new compress.OneBit(opts)],
  ['LossScaler', 'initScale, growthFactor, backoffFactor, growthInterval, minScale', (opts) => new amp.LossScaler(opts)],
  [
    'DistributedOptimizer',
    'fusionThreshold, backwardPassesPerStep, op, compression, lossScaler, algorithm, background, communicator',
    async (opts) => {
      await dtrain.init();
      return new dtrain.DistributedOptimizer(new optim.SGD(params(), { lr: 0.1 }), opts);
    },
  ],
  [
    'Trainer: data',
    'train, test',
    async (opts) => {
      await dtrain.init();
      const model = new nn.Sequential(new nn.Linear(4, 2));
      return new dtrain.Trainer({ model, optimizer: new optim.SGD(model.parameters(), { lr: 0.1 }), data: { train: dataset(), ...opts }, epochs: 1 });
    },
  ],
];

function escape(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// Calls with one misspelt key and returns the error (awaiting a Promise, for init()).
async function errorOf(call, opts) {
  try {
    await call(opts);
  } catch (e) {
    return e;
  }
  return null;
}

function expectRefusal(err, fn, key, known) {
  expect(err, `${fn} accepted '${key}'`).to.be.an.instanceof(TypeError);
  expect(err.message).to.match(new RegExp(`^${escape(fn)}: unknown option '${key}'; the options are ${escape(known)}$`));
}

describe('unknown options', function () {
  it('the table has every kernel: each takes an options object or is listed as taking none', function () {
    const functions = Object.keys(k).filter((name) => typeof k[name] === 'function');
    const tabled = KERNELS.map(([fn]) => fn.replace('kernels.', ''));
    expect([...tabled, ...KERNELS_WITHOUT_OPTIONS].sort()).to.deep.equal(functions.sort());
  });

  for (const [fn, known, call] of [...KERNELS, ...OTHERS]) {
    it(`${fn} refuses a misspelt option, naming it and listing ${known}`, async function () {
      // The correct call works (so the refusal below is about the key alone).
      await call({});
      const key = `${known.split(', ')[0]}x`;
      expectRefusal(await errorOf(call, { [key]: 1 }), fn, key, known);
    });
  }

  it("the reported cases: castToHalf's { format } and sgdStep's { momentumm }", function () {
    expect(() => k.castToHalf(f32(2), { format: 'bfloat16' })).to.throw(
      TypeError,
      "kernels.castToHalf: unknown option 'format'; the options are scale, out",
    );
    const t = tensor();
    const before = Float32Array.from(t.weights);
    expect(() => k.sgdStep([t], { lr: 0.1, momentumm: 0.9 })).to.throw(
      TypeError,
      "kernels.sgdStep: unknown option 'momentumm'; the options are lr, momentum, weightDecay, gradScale, checkFinite, nesterov",
    );
    expect(t.weights).to.deep.equal(before);
  });

  after(async function () {
    await dtrain.shutdown();
  });
});
