'use strict';
// Arrays from dtrain.alloc (shared memory), all-reduced by reading the peers' memory in place:
// results checked against each rank's regenerated inputs and across ranks, with the engine's
// own log saying the path was taken; a rank that cannot map its peers' arrays makes every rank
// fall back to the transport with a warning; a killed peer is reported, never a hang.
const { expect } = require('chai');
const dtrain = require('..');
const { runJob, describeJob } = require('./helpers');

describe('dtrain.alloc', function () {
  it('gives zeroed arrays of each type, and refuses bad lengths and types', function () {
    const f = dtrain.alloc(10);
    expect(f).to.be.instanceOf(Float32Array);
    expect(Array.from(f)).to.deep.equal(new Array(10).fill(0));
    expect(dtrain.alloc(3, 'float64')).to.be.instanceOf(Float64Array);
    expect(dtrain.alloc(3, 'float16')).to.be.instanceOf(Uint16Array);
    expect(dtrain.alloc(3, 'int64')).to.be.instanceOf(BigInt64Array);
    expect(dtrain.alloc(0)).to.have.length(0);
    expect(() => dtrain.alloc(-1)).to.throw(RangeError, /alloc: length must be an integer from 0/);
    expect(() => dtrain.alloc(1.5)).to.throw(RangeError, /length must be an integer/);
    expect(() => dtrain.alloc(4, 'int16')).to.throw(RangeError, /alloc: dtype must be one of float32, float64, .*got int16/);
  });
});

describe('all-reduce of shared arrays, in place', function () {
  for (const np of [2, 3, 4]) {
    it(`np=${np}: exact, the same on every rank, views and mixed calls right; the engine read the peers' memory`, async function () {
      const job = await runJob({ np, script: 'zero-copy.js', args: ['check'], env: { DTRAIN_DEBUG: 'INFO' } });
      expect(job.code, describeJob(job)).to.equal(0);
      expect(job.results).to.have.length(np);
      for (const r of job.results) {
        expect(r.problems, JSON.stringify(r.problems)).to.deep.equal([]);
        expect(r.cases).to.equal(11);
      }
      // Every call of shared arrays but the mixed one, on every rank.
      const inPlace = job.stderr.match(/reads the peers' shared arrays in place/g) ?? [];
      expect(inPlace.length, job.stderr.slice(-2000)).to.equal(np * 10);
      expect(job.stderr).to.not.match(/warning/);
    });
  }

  it('a rank that cannot map its peers\' arrays: every rank falls back to the transport, with the same results, and it warns once', async function () {
    const job = await runJob({ np: 3, script: 'zero-copy.js', args: ['check'], env: { DTRAIN_TEST_NO_PEER_MAPS: '1' } });
    expect(job.code, describeJob(job)).to.equal(0);
    for (const r of job.results) expect(r.problems, JSON.stringify(r.problems)).to.deep.equal([]);
    const warnings = job.stderr.match(/warning: all-reduces of shared arrays \(dtrain.alloc\) go through the transport here: DTRAIN_TEST_NO_PEER_MAPS is set/g) ?? [];
    expect(warnings).to.have.length(3);
  });

  it('a peer killed in a loop of shared-array all-reduces: the others get ERR_DTRAIN_PEER_LOST naming it', async function () {
    const job = await runJob({ np: 3, script: 'zero-copy.js', args: ['kill'] });
    expect(job.code, describeJob(job)).to.equal(137);
    expect(job.results).to.have.length(2);
    for (const r of job.results) {
      expect(r.code, JSON.stringify(r)).to.equal('ERR_DTRAIN_PEER_LOST');
      expect(r.ranks).to.deep.equal([2]);
      expect(r.ms).to.be.below(5000);
    }
  });
});
