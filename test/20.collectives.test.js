'use strict';
// Every collective through the public API, across real worker processes started by the
// launcher, for np = 1..4 on both transports. The worker (test/workers/collectives.js) checks
// each result against values computed in JS and that all ranks agree bitwise.
const { expect } = require('chai');
const { runJob, describeJob } = require('./helpers');

for (const transport of ['shm', 'tcp']) {
  describe(`collectives over ${transport}`, function () {
    for (const np of transport === 'shm' ? [1, 2, 3, 4, 6] : [1, 2, 3, 4]) {
      it(`np=${np}: all-reduce (every dtype, op, length), broadcast, all-gather, barrier`, async function () {
        const job = await runJob({ np, script: 'collectives.js', launcherArgs: ['--transport', transport] });
        expect(job.code, describeJob(job)).to.equal(0);
        expect(job.results.map((r) => r.worker).sort(), describeJob(job)).to.deep.equal([...Array(np).keys()]);
        for (const r of job.results) {
          expect(r.ok).to.equal(true);
          expect(r.np).to.equal(np);
          expect(r.cases).to.be.greaterThan(100);
          expect(r.localSize).to.equal(np);
          expect(r.localRank).to.equal(r.worker);
        }
      });
    }
  });
}
