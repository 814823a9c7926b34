'use strict';
// Parameter-server scenarios, run by test/83.ps.test.js under `dtrain run -np N --servers K`.
// Each worker prints RESULT {json}.
const dtrain = require('../..');

const { nn, optim, ps } = dtrain;
const scenario = process.argv[2];
const report = (o) => console.log(`RESULT ${JSON.stringify(o)}`);
const errorOf = (e) => ({ name: e.name, message: e.message, code: e.code });
const rng = (seed) => () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function param(name, n, fill) {
  return { name, data: Float32Array.from({ length: n }, (_, i) => fill(i)), grad: new Float32Array(n) };
}

const scenarios = {
  // The servers' update against the same optimizer run locally, step for step (one worker).
  async 'matches-local'() {
    const r = rng(7);
    const remote = [param('w', 3000, () => r()), param('b', 17, () => r()), param('big', 5000, () => r())];
    const local = remote.map((p) => ({ name: p.name, data: p.data.slice(), grad: new Float32Array(p.grad.length) }));
    const opts = { lr: 0.1, momentum: 0.9, weightDecay: 1e-3, nesterov: true };
    const opt = new optim.SGD(local, opts);
    // bigArrayBound 4000: 'big' is split across the servers.
    await ps.init(remote, { mode: 'async', optimizer: { type: 'sgd', ...opts }, bigArrayBound: 4000 });
    let maxDiff = 0;
    for (let step = 0; step < 6; step++) {
      const lr = opts.lr * (1 - step / 10);
      for (let k = 0; k < remote.length; k++) for (let i = 0; i < remote[k].grad.length; i++) remote[k].grad[i] = local[k].grad[i] = r();
      opt.lr = lr;
      opt.step();
      await ps.pushPull(remote, { lr });
      for (let k = 0; k < remote.length; k++) for (let i = 0; i < remote[k].data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(remote[k].data[i] - local[k].data[i]));
    }
    const stats = await ps.stats();
    report({ sgd: maxDiff, slices: stats.length, updates: stats.map((s) => s.updates) });
  },

  async 'matches-local-lars'() {
    const r = rng(11);
    const remote = [param('w', 3000, () => r()), param('b', 17, () => r())];
    const local = remote.map((p) => ({ name: p.name, data: p.data.slice(), grad: new Float32Array(p.grad.length) }));
    const opts = { lr: 0.5, momentum: 0.9, weightDecay: 5e-4, eta: 0.002 };
    const opt = new optim.LARS(local, { ...opts, exclude: () => false });
    await ps.init(remote, { mode: 'async', optimizer: { type: 'lars', ...opts } });
    let maxDiff = 0;
    for (let step = 0; step < 6; step++) {
      for (let k = 0; k < remote.length; k++) for (let i = 0; i < remote[k].grad.length; i++) remote[k].grad[i] = local[k].grad[i] = r();
      opt.step();
      await ps.pushPull(remote);
      for (let k = 0; k < remote.length; k++) for (let i = 0; i < remote[k].data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(remote[k].data[i] - local[k].data[i]));
    }
    report({ lars: maxDiff });
  },

  // A compressed push: the server's update equals the local one from the decoded gradient (the
  // same codec, the same seed, run here).
  async compressed() {
    const which = process.argv[3];
    const { compress, kernels } = dtrain;
    const r = rng(5);
    const remote = [param('w', 2048, () => r()), param('b', 40, () => r())];
    const local = remote.map((p) => ({ name: p.name, data: p.data.slice(), grad: new Float32Array(p.grad.length) }));
    const opt = new optim.SGD(local, { lr: 0.1, momentum: 0.9 });
    const mine = which === 'qsgd' ? new compress.QSGD({ seed: 3 }) : 'fp16';
    const twin = which === 'qsgd' ? new compress.QSGD({ seed: 3 }) : null;
    await ps.init(remote, { mode: 'async', optimizer: { type: 'sgd', lr: 0.1, momentum: 0.9 }, compression: mine });
    let maxDiff = 0;
    let changed = 0;
    for (let step = 0; step < 4; step++) {
      const fused = new Float32Array(2088);
      for (let i = 0; i < fused.length; i++) fused[i] = r();
      remote[0].grad.set(fused.subarray(0, 2048));
      remote[1].grad.set(fused.subarray(2048));
      // What the server should decode: the same codec applied here.
      let decoded;
      if (twin) {
        const bucket = { index: 0, data: fused.slice(), names: ['w', 'b'], offsets: [0, 2048], lossScale: 1, skippable: false };
        const msg = twin.packMessage(bucket, { rank: 0, size: 1 });
        twin.unpackMessage(bucket, msg);
        decoded = bucket.data;
      } else {
        decoded = kernels.castFromHalf(kernels.castToHalf(fused)).out;
      }
      for (let i = 0; i < fused.length; i++) if (decoded[i] !== fused[i]) changed++;
      local[0].grad.set(decoded.subarray(0, 2048));
      local[1].grad.set(decoded.subarray(2048));
      opt.step();
      await ps.pushPull(remote);
      for (let k = 0; k < 2; k++) for (let i = 0; i < remote[k].data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(remote[k].data[i] - local[k].data[i]));
    }
    report({ maxDiff, changed });
  },

  // Sync mode over the servers against all-reduce training of the same model from the same
  // start: each worker's own batches, averaged gradients, SGD with momentum.
  async 'sync-vs-allreduce'() {
    const rank = dtrain.rank();
    const build = () =>
      new nn.Sequential(new nn.Linear(20, 16, { seed: 1 }), new nn.ReLU(), new nn.Linear(16, 4, { seed: 2 }));
    const a = build();
    const b = build();
    const pa = a.parameters();
    const pb = b.parameters();
    const opts = { lr: 0.1, momentum: 0.9 };
    await ps.init(pa, { mode: 'sync', optimizer: { type: 'sgd', ...opts } });
    const opt = new optim.SGD(pb, opts);
    const r = rng(100 + rank);
    const x = new Float32Array(8 * 20);
    const y = new Int32Array(8);
    let maxDiff = 0;
    let maxAbs = 0;
    for (let step = 0; step < 10; step++) {
      for (let i = 0; i < x.length; i++) x[i] = r() * 2;
      for (let i = 0; i < y.length; i++) y[i] = Math.floor((r() + 0.5) * 4) % 4;
      a.lossAndGrad(x, y, 8);
      b.lossAndGrad(x, y, 8);
      await ps.pushPull(pa);
      for (const p of pb) await dtrain.allreduce(p.grad, { op: 'avg' });
      opt.step();
      for (let k = 0; k < pa.length; k++) {
        for (let i = 0; i < pa[k].data.length; i++) {
          maxDiff = Math.max(maxDiff, Math.abs(pa[k].data[i] - pb[k].data[i]));
          maxAbs = Math.max(maxAbs, Math.abs(pb[k].data[i]));
        }
      }
    }
    report({ maxDiff, maxAbs });
  },

  // SSP's bound under a straggler (the last worker sleeps each step), from the server's record
  // of clocks at every release, and the same run async to show the bound is what holds it.
  async bound() {
    const mode = process.argv[3];
    const rank = dtrain.rank();
    const p = [param('w', 64, () => 0)];
    await ps.init(p, { mode, staleness: mode === 'ssp' ? 2 : undefined, optimizer: { type: 'sgd', lr: 0.01 } });
    // Wall-clock times (one host, one clock): when each push left, and when each pull came back.
    const now = () => performance.timeOrigin + performance.now();
    const sent = [];
    const released = [];
    for (let step = 0; step < 30; step++) {
      if (rank === dtrain.size() - 1) await sleep(25);
      p[0].grad.fill(1);
      sent.push(now());
      await ps.pushPull(p);
      released.push(now());
    }
    const stats = await ps.close();
    report({ stats, sent, released });
  },

  // Many concurrent +1 pushes to one shard: none lost (SGD, lr 1, gradient -1).
  async atomic() {
    const p = [param('small', 3, () => 0), param('big', 10, () => 0)];
    await ps.init(p, { mode: 'async', optimizer: { type: 'sgd', lr: 1 }, bigArrayBound: 4 });
    const ones = (n) => new Float32Array(n).fill(-1);
    for (let i = 0; i < 50; i++) {
      p[0].grad.fill(-1);
      p[1].grad.fill(-1);
      await Promise.all([ps.pushPull(p), ps.push('small', ones(3)), ps.push('big', ones(10))]);
    }
    const stats = await ps.close(p);
    report({ small: Array.from(p[0].data), big: Array.from(p[1].data), updates: stats.map((s) => s.updates) });
  },

  // Every misuse the issue lists: each an error naming what was wrong.
  async misuse() {
    const errors = {};
    const grab = async (name, fn) => {
      try {
        await fn();
        errors[name] = null;
      } catch (e) {
        errors[name] = errorOf(e);
      }
    };
    const p = [param('w', 8, () => 1), param('b', 2, () => 0)];
    await grab('beforeInit', () => ps.push('w', new Float32Array(8)));
    await grab('badMode', () => ps.init(p, { mode: 'hogwild', optimizer: { type: 'sgd', lr: 0.1 } }));
    await grab('stalenessNotSsp', () => ps.init(p, { mode: 'async', staleness: 3, optimizer: { type: 'sgd', lr: 0.1 } }));
    await grab('badOptimizer', () => ps.init(p, { optimizer: { type: 'adam', lr: 0.1 } }));
    await ps.init(p, { mode: 'sync', optimizer: { type: 'sgd', lr: 0.1 } });
    await grab('unknownKey', () => ps.push('nope', new Float32Array(8)));
    await grab('wrongLength', () => ps.pull('w', new Float32Array(7)));
    await grab('wrongDtype', () => ps.push('w', new Float64Array(8)));
    await grab('syncPush', () => ps.push('w', new Float32Array(8)));
    await grab('pushPullOrder', () => ps.pushPull([p[1], p[0]]));
    await ps.pushPull(p); // still in step with the servers after all that
    await ps.close();
    await grab('afterClose', () => ps.pushPull(p));
    report({ errors, w: p[0].data[0] });
  },

  // Workers that register different keys: every worker is told which one differs.
  async 'init-mismatch'() {
    const rank = dtrain.rank();
    const p = [param('w', rank === 1 ? 9 : 8, () => 1)];
    try {
      await ps.init(p, { mode: 'async', optimizer: { type: 'sgd', lr: 0.1 } });
      report({ error: null });
    } catch (e) {
      report({ error: errorOf(e) });
    }
    // A failed registration still leaves the job cleanly (main() shuts down).
  },

  // A worker whose script fails on its own (exit 3): the others finish; the job reports it.
  async 'worker-error'() {
    const p = [param('w', 100, () => 0)];
    await ps.init(p, { mode: 'async', optimizer: { type: 'sgd', lr: 0.01 } });
    for (let step = 0; step < 40; step++) {
      if (dtrain.rank() === 1 && step === 5) process.exit(3);
      await ps.pushPull(p);
      await sleep(2);
    }
    report({ clocks: (await ps.close())[0].clocks });
  },

  // A worker killed mid-run in async mode: the others finish; the servers drop it.
  async 'kill-worker'() {
    const rank = dtrain.rank();
    const p = [param('w', 1000, () => 0)];
    await ps.init(p, { mode: process.argv[3] ?? 'async', staleness: process.argv[3] === 'ssp' ? 1 : undefined, optimizer: { type: 'sgd', lr: 0.01 } });
    for (let step = 0; step < 60; step++) {
      if (rank === 1 && step === 10) process.kill(process.pid, 'SIGKILL');
      p[0].grad.fill(1);
      await ps.pushPull(p);
      await sleep(2);
    }
    const stats = await ps.close();
    report({ dropped: stats.map((s) => s.dropped.map((d) => d.worker)), clocks: stats[0].clocks });
    await dtrain.shutdown();
  },

  // A server killed mid-run: every worker fails with an error naming it.
  async 'kill-server'() {
    const p = [param('w', 1000, () => 0), param('v', 1000, () => 0)];
    await ps.init(p, { mode: 'async', optimizer: { type: 'sgd', lr: 0.01 } });
    try {
      for (let step = 0; step < 1000; step++) {
        if (dtrain.rank() === 0 && step === 10) process.kill(Number(process.env.DTRAIN_TEST_SERVER_PID ?? 0) || serverPid(), 'SIGKILL');
        p[0].grad.fill(1);
        await ps.pushPull(p);
        await sleep(2);
      }
      report({ error: null });
    } catch (e) {
      report({ error: errorOf(e), ranks: e.ranks });
    }
    process.exit(1);
  },

  // The world of a ps job is the workers: rank, size and collectives count only them.
  async world() {
    const sum = await dtrain.allreduce(Float32Array.of(dtrain.rank() + 1), { op: 'sum' });
    report({ rank: dtrain.rank(), size: dtrain.size(), sum: sum[0], servers: ps.numServers() });
    await dtrain.shutdown();
  },
};

// The last server's pid, from the launcher's process table (this host).
function serverPid() {
  const { execFileSync } = require('node:child_process');
  const out = execFileSync('pgrep', ['-f', 'ps/server-main.js']).toString().trim().split('\n').map(Number);
  return Math.max(...out);
}

(async () => {
  await dtrain.init();
  if (!scenarios[scenario]) throw new Error(`unknown scenario ${scenario}`);
  await scenarios[scenario]();
  if (scenario !== 'kill-worker' && scenario !== 'world') await dtrain.shutdown();
  if (scenario === 'init-mismatch') report({ shutdown: 'ok' });
})().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
