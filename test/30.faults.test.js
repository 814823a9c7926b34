'use strict';
// Bad input and faults: every rank gets a clear error, nothing hangs.
const { expect } = require('chai');
const { runJob, describeJob } = require('./helpers');

const faults = (np, scenario, opts = {}) => runJob({ np, script: 'faults.js', args: [scenario], ...opts });

describe('bad arguments', function () {
  it('reject with a TypeError or RangeError that names the argument, and send nothing', async function () {
    const job = await faults(2, 'bad-args');
    expect(job.code, describeJob(job)).to.equal(0);
    expect(job.results).to.have.length(2);
    for (const r of job.results) {
      const [arr, u8, op, algo, timeout, root, rootFrac, gather, barrier, syncOpts, syncType, ...half] = r.errors;
      const [halfUnnamed, halfOnFloat, halfUnknown, halfWrong] = half;
      expect(arr).to.include({ name: 'TypeError' });
      expect(arr.message).to.match(/allreduce: buf must be a Float32Array.*got Array/);
      expect(u8.message).to.match(/got Uint8ClampedArray/);
      expect(op).to.include({ name: 'RangeError' });
      expect(op.message).to.match(/op must be one of sum, avg, min, max, prod, got bogus/);
      expect(algo).to.include({ name: 'RangeError' });
      expect(algo.message).to.match(/unknown all-reduce algorithm 'bogus'/);
      expect(timeout.message).to.match(/timeout must be a positive number/);
      expect(root).to.include({ name: 'RangeError' });
      expect(root.message).to.match(/root must be an integer rank in \[0, 2\), got 2/);
      expect(rootFrac.message).to.match(/got 0.5/);
      expect(gather).to.include({ name: 'TypeError' });
      expect(barrier.message).to.match(/barrier: timeout/);
      expect(syncOpts).to.include({ name: 'TypeError' });
      expect(syncType.message).to.match(/allgatherSync: buf .* got Int16Array/);
      expect(halfUnnamed).to.include({ name: 'TypeError' });
      expect(halfUnnamed.message).to.match(/allreduceSync: buf is a Uint16Array: pass \{ dtype: 'float16' \}/);
      expect(halfOnFloat).to.include({ name: 'TypeError' });
      expect(halfOnFloat.message).to.match(/allreduce: dtype float16 does not match buf, a Float32Array/);
      expect(halfUnknown).to.include({ name: 'RangeError' });
      expect(halfUnknown.message).to.match(/reduceScatter: dtype must be one of float32, .*int64, got int16/);
      expect(halfWrong.message).to.match(/broadcast: dtype float32 does not fit a Uint16Array/);
      // Nothing was sent: the next real call pairs up correctly on both ranks.
      expect(r.after).to.equal(2);
    }
  });
});

describe('mismatched calls', function () {
  for (const [scenario, pattern, odd] of [
    ['mismatch-length', /ranks 0, 2 called allreduce\(float32\[10\].*rank 1 called allreduce\(float32\[11\]/, 1],
    ['mismatch-kind', /rank 0 called broadcast\(float32\[8\], root=0\); ranks 1, 2 called allreduce/, 0],
    ['mismatch-type', /rank 0 called allreduce\(float64\[8\], op=sum.*ranks 1, 2 called allreduce\(float32\[8\], op=max/, 0],
    ['mismatch-half', /rank 0 called allreduce\(float16\[8\].*ranks 1, 2 called allreduce\(bfloat16\[8\]/, 0],
  ]) {
    it(`${scenario}: every rank gets ERR_DTRAIN_MISMATCH naming the ranks and how they differ`, async function () {
      const job = await faults(3, scenario);
      expect(job.code, describeJob(job)).to.equal(0);
      expect(job.results).to.have.length(3);
      for (const r of job.results) {
        expect(r.code, JSON.stringify(r)).to.equal('ERR_DTRAIN_MISMATCH');
        expect(r.message).to.match(pattern);
        expect(r.ranks).to.deep.equal([odd]);
        expect(r.ms).to.be.below(5000);
      }
      // A mismatch leaves the communicator usable.
      if (scenario === 'mismatch-length') for (const r of job.results) expect(r.after).to.equal(3);
    });
  }
});

describe('mismatched calls of the newer collectives', function () {
  it('reduce with another root, gather with another length: ERR_DTRAIN_MISMATCH on every rank, and the communicator stays usable', async function () {
    const job = await faults(3, 'mismatch-root');
    expect(job.code, describeJob(job)).to.equal(0);
    for (const r of job.results) {
      expect(r.code, JSON.stringify(r)).to.equal('ERR_DTRAIN_MISMATCH');
      expect(r.message).to.match(/rank 0 called reduce\(float32\[8\], op=sum, root=1.*ranks 1, 2 called reduce\(float32\[8\], op=sum, root=0/);
      expect(r.ranks).to.deep.equal([0]);
      expect(r.second.message).to.match(/rank 1 called gather\(int32\[3\], root=0/);
      expect(r.after).to.equal(3);
    }
  });

  it('recv with another tag: ERR_DTRAIN_MISMATCH naming both tags; a recv from a rank that never sends times out naming it', async function () {
    const job = await faults(3, 'p2p-tag');
    expect(job.code, describeJob(job)).to.equal(0);
    const byRank = Object.fromEntries(job.results.map((r) => [r.worker, r]));
    expect(byRank[1].code).to.equal('ERR_DTRAIN_MISMATCH');
    expect(byRank[1].message).to.match(/recv\(float32\[2\], from rank 0, tag=6.*got send\(float32\[2\], tag=5\)/);
    expect(byRank[1].ranks).to.deep.equal([0]);
    expect(byRank[2].code).to.equal('ERR_DTRAIN_TIMEOUT');
    expect(byRank[2].ranks).to.deep.equal([0]);
  });

  it('all-to-all whose recvCounts disagree with the senders: ERR_DTRAIN_MISMATCH on every rank, then a correct call works', async function () {
    const job = await faults(3, 'mismatch-splits');
    expect(job.code, describeJob(job)).to.equal(0);
    for (const r of job.results) {
      expect(r.code, JSON.stringify(r)).to.equal('ERR_DTRAIN_MISMATCH');
      expect(r.after).to.equal('0,1,2');
    }
    expect(job.results.find((r) => r.worker === 2).message).to.match(/rank 0 sends 1, recvCounts\[0\] is 2/);
  });

  it('a broadcast while a rank has joined: ERR_DTRAIN_MISMATCH on every rank, naming the joined rank', async function () {
    const job = await faults(3, 'join-then-broadcast');
    expect(job.code, describeJob(job)).to.equal(0);
    for (const r of job.results) {
      expect(r.code, JSON.stringify(r)).to.equal('ERR_DTRAIN_MISMATCH');
      expect(r.message).to.match(/rank 2 called join\(\).*not broadcast/);
      expect(r.ranks).to.deep.equal([2]);
    }
  });
});

describe('a peer that stalls inside a small async all-reduce', function () {
  for (const transport of ['shm', 'tcp']) {
    it(`${transport}: the caller's event loop keeps turning, and the result is right`, async function () {
      const job = await runJob({ np: 2, script: 'stall.js', args: ['1500'], launcherArgs: ['--transport', transport] });
      expect(job.code, describeJob(job)).to.equal(0);
      const first = job.results.filter((r) => r.ticks !== undefined);
      expect(first, describeJob(job)).to.have.length(2);
      for (const r of first) expect([r.value, r.last]).to.deep.equal([3, 3]);
      const waiting = first.find((r) => r.rank === 0);
      expect(waiting.ms).to.be.at.least(1400);
      // A 10 ms timer over 1.5 s: about 150 ticks when the loop is free, 0 when the call holds it.
      expect(waiting.ticks, describeJob(job)).to.be.above(30);
      expect(job.results.filter((r) => r.after === 2)).to.have.length(2);
    });
  }
});

describe('a rank stuck inside an all-reduce that the others wait in', function () {
  // 3 ranks: 0 waits on 2, 1 waits on 0; both must name 2, in the stall lines and the timeout.
  for (const [transport, mode] of [
    ['shm', 'async'],
    ['shm', 'sync'],
    ['tcp', 'async'],
  ]) {
    it(`${transport}, ${mode}: every waiting rank names the stuck rank, not its neighbour`, async function () {
      const job = await runJob({
        np: 3,
        script: 'stuck.js',
        args: ['6000', mode],
        launcherArgs: ['--transport', transport],
        env: { DTRAIN_TIMEOUT: '3.5', DTRAIN_STALL_WARN: '1' },
      });
      const waiting = job.results.filter((r) => r.rank !== 2);
      expect(waiting, describeJob(job)).to.have.length(2);
      for (const r of waiting) {
        expect(r.code, JSON.stringify(r)).to.equal('ERR_DTRAIN_TIMEOUT');
        expect(r.ranks, r.message).to.deep.equal([2]);
        expect(r.message).to.match(/allreduce call #\d+ timed out: rank 2 did not finish it .*ranks 0, 1 waited in it/);
        expect(r.ms).to.be.within(3000, 6500);
      }
      // One line per interval from each waiting rank, within a second of each deadline.
      for (const rank of [0, 1]) {
        const lines = job.stderr.split('\n').filter((l) => l.includes(`[dtrain rank ${rank}] stall: `));
        expect(lines.length, job.stderr).to.be.within(2, 4);
        for (const l of lines) expect(l).to.match(/allreduce\(float32\[65536\], op=sum, algorithm=[\w:-]+\) call #\d+ has waited [123]\.\d s; rank 2 is not in it; it times out in/);
      }
    });
  }
});

describe('a worker killed with SIGKILL during an all-reduce', function () {
  for (const transport of ['shm', 'tcp']) {
    for (const np of [3, 4]) {
      it(`${transport}, np=${np}: every survivor rejects with ERR_DTRAIN_PEER_LOST naming the lost rank`, async function () {
        const job = await faults(np, 'kill', { launcherArgs: ['--transport', transport] });
        const lost = np - 1;
        expect(job.code, describeJob(job)).to.equal(137);
        expect(job.stderr).to.include(`rank ${lost} was killed by signal SIGKILL`);
        expect(job.results.map((r) => r.worker).sort(), describeJob(job)).to.deep.equal([...Array(np - 1).keys()]);
        for (const r of job.results) {
          expect(r.code, JSON.stringify(r)).to.equal('ERR_DTRAIN_PEER_LOST');
          expect(r.rank).to.equal(lost);
          expect(r.message).to.include(`rank ${lost}`);
          // Well within the 30 s default timeout: the loss is detected, not waited out.
          expect(r.ms).to.be.below(5000);
          expect(r.laterCode).to.equal('ERR_DTRAIN_BROKEN');
        }
      });
    }
  }
});

describe('a worker killed with SIGKILL during each of the newer calls', function () {
  for (const [what, transport] of [
    ['reduce', 'shm'],
    ['gather', 'tcp'],
    ['scatter', 'shm'],
    ['alltoall', 'tcp'],
    ['grouped', 'shm'],
    ['sendrecv', 'tcp'],
    ['join', 'shm'],
  ]) {
    it(`${what} over ${transport}, np=3: every survivor rejects with ERR_DTRAIN_PEER_LOST naming rank 2`, async function () {
      const job = await runJob({ np: 3, script: 'faults.js', args: ['kill-in', what], launcherArgs: ['--transport', transport] });
      expect(job.code, describeJob(job)).to.equal(137);
      expect(job.results.map((r) => r.worker).sort(), describeJob(job)).to.deep.equal([0, 1]);
      for (const r of job.results) {
        expect(r.code, JSON.stringify(r)).to.equal('ERR_DTRAIN_PEER_LOST');
        expect(r.rank).to.equal(2);
        expect(r.ms).to.be.below(8000);
      }
    });
  }
});

describe('a rank that never joins', function () {
  for (const [how, opts] of [
    ['per-call timeout', {}],
    ['DTRAIN_TIMEOUT', { env: { DTRAIN_TIMEOUT: '1.5' }, launcherArgs: ['--transport', 'tcp'] }],
  ]) {
    it(`${how}: the others time out with ERR_DTRAIN_TIMEOUT naming it`, async function () {
      const job = await faults(3, 'timeout', opts);
      expect(job.code, describeJob(job)).to.equal(0);
      const waiting = job.results.filter((r) => r.worker !== 1);
      expect(waiting).to.have.length(2);
      for (const r of waiting) {
        expect(r.code).to.equal('ERR_DTRAIN_TIMEOUT');
        expect(r.ranks).to.deep.equal([1]);
        expect(r.message).to.match(/rank 1 did not join it/);
        const limit = opts.env ? 1500 : 1000;
        expect(r.ms).to.be.within(limit - 50, limit + 2000);
      }
    });
  }
});

describe('a peer connection without the job token', function () {
  it('is refused with "bad token" and logged by the rank it reached; the job goes on', async function () {
    const job = await faults(2, 'intruder', { launcherArgs: ['--transport', 'tcp'] });
    expect(job.code, describeJob(job)).to.equal(0);
    const r0 = job.results.find((r) => r.worker === 0);
    expect(r0.reply).to.equal('ERR bad token\n');
    expect(job.stderr).to.match(/\[1\] dtrain: rank 1 refused TCP connection from 127\.0\.0\.1:\d+: bad token/);
    for (const r of job.results) expect(r.after).to.equal(2);
  });
});
