'use strict';
// Small all-reduces sent with their descriptors (algorithm direct, DTRAIN_EAGER_BYTES), over
// real processes: bitwise the same as the same algorithm run as a schedule and on every rank,
// exact integer results checked against each rank's regenerated inputs, mismatches reported as
// before and leaving the communicator usable, and `auto` choosing it only below the limit.
const { expect } = require('chai');
const { runJob, describeJob } = require('./helpers');

describe('eager all-reduce (data with the descriptor)', function () {
  for (const [np, transport] of [[2, 'shm'], [3, 'shm'], [4, 'shm'], [3, 'tcp']]) {
    it(`np=${np} over ${transport}: eager and scheduled direct agree bit for bit, on every rank, for every dtype and op`, async function () {
      const job = await runJob({ np, script: 'eager.js', args: ['compare'], launcherArgs: ['--transport', transport] });
      expect(job.code, describeJob(job)).to.equal(0);
      expect(job.results).to.have.length(np);
      for (const r of job.results) {
        expect(r.problems, JSON.stringify(r.problems)).to.deep.equal([]);
        expect(r.cases).to.equal(96);
      }
    });
  }

  for (const transport of ['shm', 'tcp']) {
    it(`${transport}: a mismatch with an eager call fails on every rank naming the odd one, and later calls are right`, async function () {
      const job = await runJob({ np: 3, script: 'eager.js', args: ['mismatch'], launcherArgs: ['--transport', transport] });
      expect(job.code, describeJob(job)).to.equal(0);
      expect(job.results).to.have.length(3);
      for (const r of job.results) {
        expect(r.first.code).to.equal('ERR_DTRAIN_MISMATCH');
        expect(r.first.ranks).to.deep.equal([0]);
        expect(r.first.message).to.match(/rank 0 called allreduce\(float32\[8\], op=sum, algorithm=direct, data sent with the descriptor\); ranks 1, 2 called barrier\(\)/);
        expect(r.second.code).to.equal('ERR_DTRAIN_MISMATCH');
        expect(r.second.ranks).to.deep.equal([1]);
        expect(r.second.message).to.match(/rank 1 called allreduce\(float32\[40000\]/);
        expect(r.third.code).to.equal('ERR_DTRAIN_MISMATCH');
        expect(r.third.ranks).to.deep.equal([2]);
        expect(r.third.message).to.match(/rank 2 called allreduce\(float32\[9\]/);
        expect(r.after).to.deep.equal([6, 6, 6, 6]);
      }
    });
  }

  it('auto takes direct with the data below DTRAIN_EAGER_BYTES only; DTRAIN_EAGER_BYTES=0 turns it off', async function () {
    const on = await runJob({ np: 2, script: 'eager.js', args: ['probe'], env: { DTRAIN_DEBUG: 'DETAIL' } });
    expect(on.code, describeJob(on)).to.equal(0);
    expect(on.stderr).to.match(/call #0 allreduce algorithm=direct descriptor allreduce\(float32\[16\], op=sum, algorithm=direct, data sent with the descriptor\)/);
    // 32 KiB is above the default limit of 16 KiB; a grouped all-reduce runs direct's schedule.
    expect(on.stderr).to.match(/call #1 allreduce algorithm=(?!direct)/);
    expect(on.stderr).to.match(/call #2 allreduce algorithm=direct descriptor groupedAllreduce\(float32\[16\] in 1 arrays \(shape \d+\), op=sum, algorithm=direct\)\n/);
    const off = await runJob({ np: 2, script: 'eager.js', args: ['probe'], env: { DTRAIN_DEBUG: 'DETAIL', DTRAIN_EAGER_BYTES: '0' } });
    expect(off.code, describeJob(off)).to.equal(0);
    expect(off.stderr).to.not.match(/data sent with the descriptor/);
    expect(off.stderr).to.match(/call #0 allreduce algorithm=recursive-doubling/);
  });
});
