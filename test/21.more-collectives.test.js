'use strict';
// The collectives added for Horovod and DDP users (reduce, gather, scatter, all-to-all, send/recv,
// grouped all-reduce, object collectives, groups, join), every dtype and op where they apply,
// across real worker processes on both transports. The worker (test/workers/more-collectives.js)
// checks each result against values computed in JS and that all ranks agree bitwise; this file
// checks what the worker reports, and the usage edges (second init, host groups, DTRAIN_DEBUG).
const { expect } = require('chai');
const { runJob, describeJob } = require('./helpers');
const dtrain = require('..');

function checkReport(r, np) {
  expect(r.np).to.equal(np);
  expect(r.cases).to.be.greaterThan(500);
  const e = r.edges;
  // int32 sums wrap (two's complement); averages are exact.
  expect(e.wrapped).to.equal((2147483647 * np) | 0);
  expect(e.average).to.equal(2147483647);
  expect(e.int8Average).to.equal('127,-128');
  expect(e.int64Avg).to.include({ name: 'RangeError' });
  expect(e.int64Avg.message).to.match(/'avg' is not supported for int64/);
  // SharedArrayBuffer-backed arrays work in every form.
  expect(e.sab).to.deep.equal([(np * (np + 1)) / 2, np, [...Array(np).keys()].join(','), 9]);
  expect(e.object).to.deep.equal([7, 'x', 2, true, '100000000000000000000']);
  expect(e.objectSync).to.equal(`${np - 1},last`);
  expect(e.allObjects).to.equal([...Array(np).keys()].map((k) => `${k}:${k * 100}`).join(','));
  expect(e.allObjectsSync).to.equal([...Array(np).keys()].map((k) => k * 2).join(','));
  // A value the root cannot serialize fails on every rank, and nobody hangs.
  expect(e.badObject).to.include({ name: 'TypeError' });
  const g = r.groups;
  expect(g.world).to.equal(g.worldWant);
  expect(g.group).to.equal(g.groupWant);
  expect(g.groupRank).to.equal(g.groupRankWant);
  if (np > 1) {
    expect(g.mismatch.code).to.equal('ERR_DTRAIN_MISMATCH');
    expect(g.mismatch.ranks).to.deep.equal(np === 2 ? [1] : [0]);
  }
}

for (const transport of ['shm', 'tcp']) {
  describe(`more collectives over ${transport}`, function () {
    for (const np of transport === 'shm' ? [1, 2, 3, 4, 6] : [2, 3, 5]) {
      it(`np=${np}: reduce, gather, scatter, alltoall(v), send/recv, grouped, prod, uint8/int8/int64, objects, groups`, async function () {
        const job = await runJob({ np, script: 'more-collectives.js', launcherArgs: ['--transport', transport], timeoutMs: 170000 });
        expect(job.code, describeJob(job)).to.equal(0);
        expect(job.results.map((r) => r.worker).sort(), describeJob(job)).to.deep.equal([...Array(np).keys()]);
        for (const r of job.results) checkReport(r, np);
        const solo = job.results.filter((r) => r.groups.solo !== undefined);
        expect(solo.map((r) => r.worker)).to.deep.equal([np - 1]);
        expect(solo[0].groups.solo).to.equal(5);
      });
    }
  });
}

describe('join() with uneven inputs', function () {
  // Batches each rank is short of: 0, 1 and 5 fewer than the longest (6).
  for (const [np, shortBy, transport] of [
    [3, [0, 1, 5], 'shm'],
    [4, [1, 0, 0, 5], 'tcp'],
    [2, [0, 0], 'shm'],
  ]) {
    it(`np=${np}, ranks short of ${shortBy.join(', ')} batches (${transport}): the last steps finish, averaged over the ranks that contributed`, async function () {
      const job = await runJob({ np, script: 'more-collectives.js', args: ['join', shortBy.join(',')], launcherArgs: ['--transport', transport] });
      expect(job.code, describeJob(job)).to.equal(0);
      const steps = shortBy.map((s) => 6 - s);
      for (const r of job.results) {
        expect(r.steps).to.equal(steps[r.worker]);
        r.seen.forEach(([avg, one, maxOne, maxRank], s) => {
          const active = [...Array(np).keys()].filter((k) => steps[k] > s);
          expect(avg).to.be.closeTo(active.reduce((a, k) => a + k + 1, 0) / active.length, 1e-6);
          expect(one).to.equal(1);
          expect(maxOne).to.equal(1);
          expect(maxRank).to.equal(Math.max(...active));
        });
        // It answered both all-reduces of every step it had no data for.
        expect(r.answered).to.equal(2 * (Math.max(...steps) - steps[r.worker]));
        expect(r.after).to.equal(np);
      }
    });
  }
});

describe('collectives usage edges', function () {
  it('a second init() checks its options and refuses ones that differ from the running communicator', async function () {
    const job = await runJob({ np: 2, script: 'usage.js' });
    expect(job.code, describeJob(job)).to.equal(0);
    for (const r of job.results) {
      expect(r.same).to.equal(true);
      expect(r.otherTransport).to.include({ name: 'RangeError', code: 'ERR_DTRAIN_INVALID_ARG' });
      expect(r.otherTransport.message).to.match(/transport 'tcp' \(running: 'shm'\).*shutdown\(\)/);
      expect(r.unknownTransport.message).to.match(/transport must be 'auto', 'shm', 'tcp' or 'mpi', got 'ib'/);
      expect(r.otherTimeout.message).to.match(/timeout 7 \(running: 30\)/);
      expect(r.typo).to.include({ name: 'TypeError' });
      expect(r.typo.message).to.match(/tiemout/);
      expect(r.sum).to.equal(2);
    }
  });

  it('DTRAIN_LOCAL_SIZE=4 with -np 6: ranks 4 and 5 are a host group of 2', async function () {
    const job = await runJob({ np: 6, script: 'usage.js', env: { DTRAIN_LOCAL_SIZE: '4' } });
    expect(job.code, describeJob(job)).to.equal(0);
    for (const r of job.results) {
      expect([r.localRank, r.localSize], `rank ${r.worker}`).to.deep.equal(r.worker < 4 ? [r.worker, 4] : [r.worker - 4, 2]);
    }
  });

  for (const level of ['INFO', 'DETAIL']) {
    it(`DTRAIN_DEBUG=${level} logs bootstrap and each call's algorithm${level === 'DETAIL' ? ', and its descriptor' : ''}, with the rank`, async function () {
      const job = await runJob({ np: 2, script: 'usage.js', env: { DTRAIN_DEBUG: level } });
      expect(job.code, describeJob(job)).to.equal(0);
      for (const rank of [0, 1]) {
        expect(job.stderr).to.match(new RegExp(`\\[dtrain rank ${rank}\\] INFO bootstrap done: size 2, transport shm`));
        expect(job.stderr).to.match(new RegExp(`\\[dtrain rank ${rank}\\] (INFO|DETAIL) call #0 allreduce algorithm=\\S+`));
      }
      if (level === 'DETAIL') expect(job.stderr).to.match(/DETAIL call #0 allreduce .*descriptor allreduce\(float32\[1\], op=sum/);
      else expect(job.stderr).not.to.match(/DETAIL/);
    });
  }

  it('DTRAIN_DEBUG with another value names the variable', async function () {
    const job = await runJob({ np: 1, script: 'usage.js', env: { DTRAIN_DEBUG: 'LOUD' } });
    expect(job.code).to.not.equal(0);
    expect(job.stderr).to.match(/DTRAIN_DEBUG must be INFO or DETAIL, got 'LOUD'/);
  });

  it('dtrain simulate runs the new schedules: a binomial gather takes lg p rounds, pairwise all-to-all p-1', function () {
    const { execFileSync } = require('child_process');
    const run = (...args) => JSON.parse(execFileSync(process.execPath, [require.resolve('../bin/dtrain.js'), 'simulate', '--json', ...args]).toString());
    const gather = run('--algo', 'binomial-tree', '--collective', 'gather', '--np', '64', '--bytes', '1MiB');
    expect(gather.steps).to.equal(7); // its own block, then one child per level
    expect(gather.max_bytes_sent_per_rank).to.equal(32 * 1048576); // rank 32 sends its half to the root
    const a2a = run('--algo', 'pairwise', '--collective', 'alltoall', '--np', '8', '--bytes', '4096');
    expect(a2a.max_bytes_sent_per_rank).to.equal(7 * 4096);
    const reduce = run('--algo', 'binomial-tree', '--collective', 'reduce', '--np', '8', '--bytes', '4096');
    expect(reduce.steps).to.equal(3);
  });

  it('the Communicator has every collective the module has, with the same name', function () {
    const moduleFns = Object.keys(dtrain).filter((k) => typeof dtrain[k] === 'function' && !/^[A-Z]/.test(k));
    const notCollectives = new Set(['init', 'shutdown', 'getCommunicator', 'rank', 'size', 'localRank', 'localSize', 'broadcastParameters', 'broadcastOptimizerState', 'alloc']);
    const methods = new Set(Object.getOwnPropertyNames(dtrain.Communicator.prototype));
    for (const fn of moduleFns) if (!notCollectives.has(fn)) expect(methods.has(fn), `Communicator.${fn}`).to.equal(true);
    // The facts are properties there (they never change for a communicator).
    for (const fact of ['rank', 'size', 'localRank', 'localSize']) {
      expect(Object.getOwnPropertyDescriptor(dtrain.Communicator.prototype, fact).get, fact).to.be.a('function');
    }
  });
});
