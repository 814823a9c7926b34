'use strict';
// One path from C++ failures to JS errors: job failures are DtrainError instances (exported from
// the package, so `instanceof` works) with code, rank and ranks; argument errors found in C++
// are RangeErrors that carry a code too. Covers every wrap: the communicator, simulate, the
// kernels and the registry functions.
const { expect } = require('chai');
const dtrain = require('..');
const { loadBinding } = require('../dist/native');
const { runJob, describeJob } = require('./helpers');

describe('errors', function () {
  it('a call on a communicator after shutdown() rejects with a DtrainError, ERR_DTRAIN_CLOSED', async function () {
    const comm = await dtrain.init();
    await dtrain.shutdown();
    const err = await comm.allreduce(new Float32Array(4)).then(
      () => null,
      (e) => e,
    );
    expect(err).to.be.an.instanceof(dtrain.DtrainError);
    expect(err).to.be.an.instanceof(Error);
    expect(err).to.include({ name: 'DtrainError', code: 'ERR_DTRAIN_CLOSED' });
    expect(err.ranks).to.deep.equal([]);
    expect(() => comm.barrierSync()).to.throw(dtrain.DtrainError, /shut down/);
  });

  it('mismatched ranks: a DtrainError with the odd ranks, on every rank', async function () {
    const job = await runJob({ np: 3, script: 'errors.js' });
    expect(job.code, describeJob(job)).to.equal(0);
    expect(job.results).to.have.length(3);
    for (const r of job.results) {
      expect(r).to.deep.include({ isDtrainError: true, name: 'DtrainError', code: 'ERR_DTRAIN_MISMATCH', ranks: [1], rank: 1 });
    }
  });

  it('argument errors found in C++ are RangeErrors with ERR_DTRAIN_INVALID_ARG, from every wrap', function () {
    const b = loadBinding();
    const cases = [
      () => b.algorithmId('bogus'),
      () => b.simulate({ algorithm: 'hierarchical:auto', np: 4, bytes: 4096 }),
      () => dtrain.kernels.dgcDecode(new Float32Array(4), [{ indices: Uint32Array.of(9), values: Float32Array.of(1) }]),
    ];
    for (const f of cases) {
      let err;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err).to.be.an.instanceof(RangeError);
      expect(err.code).to.equal('ERR_DTRAIN_INVALID_ARG');
      expect(err.ranks).to.deep.equal([]);
    }
  });

  it('DtrainError can be made and tested in user code too', function () {
    const e = new dtrain.DtrainError('lost', 'ERR_DTRAIN_PEER_LOST', [3]);
    expect(e).to.include({ message: 'lost', code: 'ERR_DTRAIN_PEER_LOST', rank: 3 });
    expect(e.ranks).to.deep.equal([3]);
  });
});
