'use strict';
// Parameter servers (dtrain.ps) and asynchronous SGD, through the launcher with real server
// processes: the update against the local optimizer, sync against all-reduce, SSP's bound,
// atomic pushes, misuse, and lost workers and servers.
const { expect } = require('chai');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { runJob, describeJob, ROOT } = require('./helpers');

const job = (np, servers, args, opts = {}) => runJob({ np, launcherArgs: ['--servers', String(servers)], script: 'ps.js', args, ...opts });
const byWorker = (results) => [...results].sort((a, b) => a.worker - b.worker);

describe('dtrain.ps: parameter servers', function () {
  this.timeout(120000);

  it('applies exactly the update of the same optimizer run locally (one worker; SGD with a key split over 2 servers, LARS)', async function () {
    const sgd = await job(1, 2, ['matches-local']);
    expect(sgd.code, describeJob(sgd)).to.equal(0);
    expect(sgd.results[0].sgd).to.equal(0); // bitwise
    expect(sgd.results[0].slices).to.equal(2);
    expect(sgd.results[0].updates).to.deep.equal([6, 6]);
    const lars = await job(1, 1, ['matches-local-lars']);
    expect(lars.code, describeJob(lars)).to.equal(0);
    expect(lars.results[0].lars).to.equal(0);
  });

  it('compressed pushes (fp16, qsgd): the server applies exactly the gradient the codec decodes', async function () {
    for (const codec of ['fp16', 'qsgd']) {
      const r = await job(1, 1, ['compressed', codec]);
      expect(r.code, describeJob(r)).to.equal(0);
      expect(r.results[0].maxDiff, codec).to.equal(0);
      expect(r.results[0].changed, codec).to.be.above(4000); // the codec really changed the values
    }
  });

  it('sync mode equals all-reduce training of the same model within 1e-6 (3 workers, 10 steps of SGD with momentum)', async function () {
    const r = await job(3, 2, ['sync-vs-allreduce']);
    expect(r.code, describeJob(r)).to.equal(0);
    expect(r.results).to.have.length(3);
    // The server sums the gradients and scales by 1/3 in the update; all-reduce averages: the
    // same values up to float32 rounding.
    for (const x of r.results) expect(x.maxDiff).to.be.below(1e-6 * Math.max(1, x.maxAbs));
  });

  // From the workers' own timestamps: when worker w got its values back at clock c, every other
  // worker must have sent at least c - s pushes by then (the servers count them on arrival).
  function maxLead(results) {
    let lead = -Infinity;
    for (const w of results) {
      w.released.forEach((t, i) => {
        const c = i + 1;
        for (const v of results) lead = Math.max(lead, c - v.sent.filter((ts) => ts < t).length);
      });
    }
    return lead;
  }

  it('SSP never lets a worker run more than s clocks ahead of the slowest (s = 2, a straggler); async does', async function () {
    const ssp = await job(3, 1, ['bound', 'ssp']);
    expect(ssp.code, describeJob(ssp)).to.equal(0);
    expect(maxLead(ssp.results)).to.be.at.most(2);
    expect(ssp.results[0].stats[0].max_lead).to.equal(2); // the bound is reached, not just respected
    const free = await job(3, 1, ['bound', 'async']);
    expect(free.code, describeJob(free)).to.equal(0);
    expect(maxLead(free.results)).to.be.above(5);
    expect(free.results[0].stats[0].max_lead).to.be.above(5);
  });

  it('applies concurrent pushes to one shard atomically: 400 pushes of +1 from 4 workers sum exactly', async function () {
    const r = await job(4, 2, ['atomic']);
    expect(r.code, describeJob(r)).to.equal(0);
    for (const x of r.results) {
      expect(x.small).to.deep.equal([400, 400, 400]);
      expect(x.big).to.deep.equal(new Array(10).fill(400));
    }
  });

  it('runs over tcp too: atomic pushes, and a lost worker dropped', async function () {
    const r = await runJob({ np: 3, launcherArgs: ['--servers', '2', '--transport', 'tcp'], script: 'ps.js', args: ['atomic'] });
    expect(r.code, describeJob(r)).to.equal(0);
    for (const x of r.results) expect(x.small).to.deep.equal([300, 300, 300]);
    const k = await runJob({ np: 2, launcherArgs: ['--servers', '1', '--transport', 'tcp'], script: 'ps.js', args: ['kill-worker', 'async'] });
    expect(k.code, describeJob(k)).to.equal(0);
    expect(k.results.map((x) => x.dropped)).to.deep.equal([[[1]]]);
  });

  it('misuse: unknown keys, wrong lengths and dtypes, bad options, a push in sync mode, a push after close', async function () {
    const r = await job(1, 2, ['misuse']);
    expect(r.code, describeJob(r)).to.equal(0);
    const e = r.results[0].errors;
    expect(e.beforeInit).to.include({ code: 'ERR_DTRAIN_NOT_INITIALIZED' });
    expect(e.badMode.message).to.match(/mode must be sync, async or ssp, got 'hogwild'/);
    expect(e.stalenessNotSsp.message).to.match(/staleness applies to mode 'ssp'/);
    expect(e.badOptimizer.message).to.match(/optimizer.type must be 'sgd' or 'lars', got 'adam'/);
    expect(e.unknownKey.message).to.match(/no key 'nope' was registered \(ps.init registered 2: 'w', 'b'\)/);
    expect(e.wrongLength.message).to.match(/out has 7 elements; key 'w' has 8/);
    expect(e.wrongDtype).to.include({ name: 'TypeError' });
    expect(e.wrongDtype.message).to.match(/grad must be a Float32Array of 8 elements, got Float64Array/);
    expect(e.syncPush.message).to.match(/sync mode applies a step once every worker has pushed every key; use ps.pushPull/);
    expect(e.pushPullOrder.message).to.match(/params\[0\] is 'b'; ps.init registered 'w' there/);
    expect(e.afterClose).to.include({ code: 'ERR_DTRAIN_CLOSED' });
    expect(r.results[0].w).to.be.closeTo(1, 1e-6); // the zero-gradient step after the errors went through
  });

  it('workers that register different keys all get an error naming the one that differs, and still shut down cleanly', async function () {
    const r = await job(3, 1, ['init-mismatch']);
    expect(r.code, describeJob(r)).to.equal(0);
    const errors = r.results.filter((x) => x.error);
    expect(errors).to.have.length(3);
    for (const x of errors) expect(x.error.message).to.match(/worker 1 registered key 'w' with 9 elements \(worker 0: 8\)/);
    expect(r.results.filter((x) => x.shutdown === 'ok')).to.have.length(3);
  });

  it('a worker whose script fails by itself: the others finish, and the job exits with its code', async function () {
    const r = await job(3, 1, ['worker-error']);
    expect(r.code, describeJob(r)).to.equal(3);
    expect(r.stderr).to.match(/dtrain: rank 1 exited with code 3; the job continues without it/);
    expect(byWorker(r.results).map((x) => x.worker)).to.deep.equal([0, 2]);
    for (const x of r.results) expect(x.clocks).to.deep.equal([40, 5, 40]);
  });

  it("the script's world is the workers: rank, size and collectives count only them", async function () {
    const r = await job(3, 2, ['world']);
    expect(r.code, describeJob(r)).to.equal(0);
    expect(byWorker(r.results).map((x) => [x.rank, x.size, x.sum, x.servers])).to.deep.equal([[0, 3, 6, 2], [1, 3, 6, 2], [2, 3, 6, 2]]);
  });

  for (const mode of ['async', 'ssp', 'sync']) {
    it(`a worker killed mid-run (${mode}): the servers drop it, the others finish, the job exits 0`, async function () {
      const r = await job(3, 2, ['kill-worker', mode]);
      expect(r.code, describeJob(r)).to.equal(0);
      expect(r.stderr).to.match(/dtrain: rank 1 was killed by signal SIGKILL; the job continues without it/);
      expect(r.stderr).to.match(/parameter server \d \(rank \d\) dropped worker 1: its process died or disconnected/);
      expect(byWorker(r.results).map((x) => x.worker)).to.deep.equal([0, 2]);
      for (const x of r.results) {
        expect(x.dropped).to.deep.equal([[1], [1]]);
        expect(x.clocks).to.deep.equal([60, 10, 60]);
      }
    });
  }

  it('a server killed mid-run fails every worker with an error naming it, and the job', async function () {
    const r = await job(3, 2, ['kill-server']);
    expect(r.code).to.equal(137);
    expect(r.stderr).to.match(/dtrain: rank 4 was killed by signal SIGKILL/);
    expect(r.results.length).to.be.at.least(1);
    for (const x of r.results) {
      expect(x.error.code).to.equal('ERR_DTRAIN_PEER_LOST');
      expect(x.error.message).to.match(/parameter server 1 \(rank 4\) was lost/);
      expect(x.ranks).to.deep.equal([4]);
    }
  });
});

describe('examples/fashion-mnist.js with parameter servers (the committed slice)', function () {
  this.timeout(180000);
  const CLI = path.join(ROOT, 'bin', 'dtrain.js');
  const EXAMPLE = path.join(ROOT, 'examples', 'fashion-mnist.js');
  let empty;
  before(() => (empty = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-nofm-'))));
  after(() => fs.rmSync(empty, { recursive: true, force: true }));

  function run(args) {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, 'run', ...args], { cwd: ROOT, env: { ...process.env, FASHION_MNIST_DIR: empty }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }
  const summaryOf = (r) => {
    const last = r.stdout.trim().split('\n').filter((l) => l.startsWith('[0] {"np"')).pop();
    expect(last, r.stdout + r.stderr).to.be.a('string');
    return JSON.parse(last.slice(4));
  };

  it('--mode ssp with a 3x straggler trains, and the summary has mode, servers, staleness, wall_s, updates, mean_staleness', async function () {
    const r = await run(['-np', '3', '--servers', '2', EXAMPLE, '--mode', 'ssp', '--staleness', '2', '--epochs', '3', '--slow-rank', '2', '--slow-factor', '3']);
    expect(r.code, r.stderr).to.equal(0);
    const s = summaryOf(r);
    expect(s).to.include({ np: 3, mode: 'ssp', servers: 2, staleness: 2 });
    expect(s.max_lead).to.be.at.most(2);
    for (const k of ['wall_s', 'updates', 'mean_staleness']) expect(s[k], k).to.be.a('number');
    expect(s.updates).to.equal(s.clocks.reduce((a, c) => a + c, 0)); // one update per push
    expect(s.test_acc).to.be.above(0.4); // a few dozen steps on the 2000-image slice: well above chance
  });

  it('--mode ps-async with a worker killed mid-run: the job finishes on the others and reports it', async function () {
    const child = spawn(process.execPath, [CLI, 'run', '-np', '3', '--servers', '1', EXAMPLE, '--mode', 'ps-async', '--epochs', '40', '--slow-rank', '1', '--slow-factor', '4'], {
      cwd: ROOT,
      env: { ...process.env, FASHION_MNIST_DIR: empty },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    // Kill worker 1 once worker 0 has finished its first epoch.
    await new Promise((resolve) => {
      const t = setInterval(() => {
        if (!/epoch 1\/40/.test(stdout)) return;
        clearInterval(t);
        const { execFileSync } = require('node:child_process');
        const pids = execFileSync('pgrep', ['-f', `${EXAMPLE} --mode ps-async`]).toString().trim().split('\n').map(Number);
        // Rank 1 is the worker whose environment says so (the launcher matches the pattern too).
        const rankOf = (pid) => /(?:^|\0)DTRAIN_RANK=(\d+)/.exec(fs.readFileSync(`/proc/${pid}/environ`, 'latin1'))?.[1];
        process.kill(pids.find((pid) => rankOf(pid) === '1'), 'SIGKILL');
        resolve();
      }, 20);
    });
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code, stderr).to.equal(0);
    expect(stderr).to.match(/rank 1 was killed by signal SIGKILL; the job continues without it/);
    const s = summaryOf({ stdout, stderr });
    expect(s.dropped_workers).to.deep.equal([1]);
    expect(s.clocks[0]).to.equal(s.clocks[2]);
    expect(s.clocks[1]).to.be.below(s.clocks[0]);
    expect(s.test_acc).to.be.above(0.4);
  });

  it('--eval-every S: evaluations every S steps, in the all-reduce loop (sharded) and with servers (worker 0)', async function () {
    for (const args of [['-np', '2', EXAMPLE], ['-np', '2', '--servers', '1', EXAMPLE, '--mode', 'ps-async']]) {
      const r = await run([...args, '--epochs', '2', '--eval-every', '3', '--eval-samples', '500', '--json']);
      expect(r.code, r.stderr).to.equal(0);
      const s = summaryOf(r);
      expect(s.evals.map((e) => e.step)).to.deep.equal([3, 6, 9, 12, 15]); // 8 steps an epoch on the slice
      for (const e of s.evals) {
        expect(e.test_acc).to.be.within(0, 1);
        expect(e.wall_s).to.be.above(0);
      }
      const lines = r.stdout.split('\n').filter((l) => l.startsWith('[0] {"eval"'));
      expect(lines).to.have.length(5);
    }
  });

  it('usage errors: a ps mode without servers, --servers that does not match the job, --staleness without ssp', async function () {
    const none = await run(['-np', '1', EXAMPLE, '--mode', 'ps-async']);
    expect(none.code).to.equal(1);
    expect(none.stderr).to.match(/--mode ps-async needs parameter servers: run it with 'dtrain run -np N --servers K/);
    const zero = await run(['-np', '1', '--servers', '1', EXAMPLE, '--mode', 'ps-async', '--servers', '0']);
    expect(zero.code).to.equal(1);
    expect(zero.stderr).to.match(/--servers 0 with 1 parameter server\(s\) in this job.*a ps mode needs at least 1/);
    const stale = await run(['-np', '1', EXAMPLE, '--mode', 'ps-async', '--staleness', '2']);
    expect(stale.stderr).to.match(/--staleness applies to --mode ssp, not ps-async/);
    const launcher = await run(['-np', '1', '--servers', '0', EXAMPLE]);
    expect(launcher.code).to.equal(2);
    expect(launcher.stderr).to.match(/--servers/);
  });
});
