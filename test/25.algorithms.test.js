'use strict';
// Every all-reduce algorithm across real processes (np = 2..5), through the public API. Groups
// of two consecutive ranks stand in for hosts (DTRAIN_LOCAL_SIZE=2) so hierarchical has real
// groups. Also: a lost rank is reported, never a hang, whatever the algorithm.
const { expect } = require('chai');
const { runJob, describeJob } = require('./helpers');

for (const transport of ['shm', 'tcp']) {
  describe(`all-reduce algorithms over ${transport}`, function () {
    for (const np of [2, 3, 4, 5]) {
      it(`np=${np}: every algorithm exact and bitwise identical; reduce-scatter; recursive-doubling all-gather`, async function () {
        const job = await runJob({
          np,
          script: 'algorithms.js',
          launcherArgs: ['--transport', transport],
          env: { DTRAIN_LOCAL_SIZE: '2' },
        });
        expect(job.code, describeJob(job)).to.equal(0);
        expect(job.results).to.have.length(np);
        for (const r of job.results) expect(r.cases).to.be.greaterThan(150);
      });
    }
  });
}

describe('a lost rank, for every algorithm', function () {
  for (const algorithm of ['ring', 'halving-doubling', 'binary-blocks', 'recursive-doubling', 'hierarchical']) {
    it(`${algorithm}: survivors reject with ERR_DTRAIN_PEER_LOST naming the lost rank`, async function () {
      const job = await runJob({
        np: 3,
        script: 'faults.js',
        args: ['kill'],
        env: { DTRAIN_ALLREDUCE_ALGO: algorithm, DTRAIN_LOCAL_SIZE: '2' },
      });
      expect(job.code, describeJob(job)).to.equal(137);
      expect(job.results, describeJob(job)).to.have.length(2);
      for (const r of job.results) {
        expect(r.code, JSON.stringify(r)).to.equal('ERR_DTRAIN_PEER_LOST');
        expect(r.rank).to.equal(2);
        expect(r.ms).to.be.below(5000);
      }
    });
  }
});
