'use strict';
// Jobs started by mpirun (Open MPI here): init() joins through MPI and rank 0's store; every
// dtrain algorithm and `mpi` (the site's MPI collectives, float16/bfloat16 through user ops)
// give exactly the results they give under `dtrain run`; the examples run unchanged; a killed
// rank is reported by name. Skipped, saying why, where mpirun or the MPI plugin is missing.
const { expect } = require('chai');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { runJob, spawnCollect, describeJob, ROOT } = require('./helpers');

const HAVE_MPIRUN = spawnSync('mpirun', ['--version'], { stdio: 'ignore' }).status === 0;
const PLUGIN = path.join(ROOT, 'build', 'mpi', 'libdtrain_mpi.so');
const ALGORITHMS = ['ring', 'halving-doubling', 'binary-blocks', 'recursive-doubling', 'hierarchical'];

function mpirun(np, args, { env = {}, timeoutMs = 180000 } = {}) {
  return spawnCollect('mpirun', ['--allow-run-as-root', '--oversubscribe', '-np', String(np), process.execPath, ...args], { env, timeoutMs });
}

describe('under mpirun (Open MPI)', function () {
  this.timeout(300000);
  before(function () {
    if (!HAVE_MPIRUN) {
      console.log('      (skipped: no mpirun; apt-get install openmpi-bin libopenmpi-dev)');
      this.skip();
    }
    if (!fs.existsSync(PLUGIN)) {
      console.log(`      (skipped: the MPI plugin ${PLUGIN} is not built: npm run build:mpi)`);
      this.skip();
    }
  });

  for (const np of [3, 4]) {
    it(`np=${np}: every collective, dtype and algorithm, 'mpi' included, is exact and matches dtrain run`, async function () {
      const script = path.join('test', 'workers', 'mpi-collectives.js');
      const underMpi = await mpirun(np, [script, 'mpi', ...ALGORITHMS]);
      expect(underMpi.code, underMpi.stderr.slice(-3000)).to.equal(0);
      expect(underMpi.results).to.have.length(np);
      const underDtrain = await runJob({ np, script: 'mpi-collectives.js', args: ALGORITHMS });
      expect(underDtrain.code, describeJob(underDtrain)).to.equal(0);
      for (const r of underMpi.results) {
        expect(r.size).to.equal(np);
        const theirs = underDtrain.results.find((d) => d.rank === r.rank);
        expect(r.checked).to.equal(theirs.checked + r.checked / (ALGORITHMS.length + 1));
        // Same cases, same bits, for each of dtrain's algorithms.
        for (const [a, h] of Object.entries(theirs.digests)) expect(r.digests[a], a).to.equal(h);
        // 'mpi' gives the very results of the ring (exact values, so any order of summation).
        expect(r.digests.mpi).to.equal(r.digests.ring);
      }
    });
  }

  it("transport 'mpi' (dtrain's schedules over MPI_Isend/MPI_Irecv): every algorithm gives the bits of dtrain run's shm", async function () {
    const script = path.join('test', 'workers', 'mpi-collectives.js');
    // Local ranks inherit mpirun's environment, DTRAIN_TRANSPORT included.
    const overMpi = await mpirun(3, [script, ...ALGORITHMS], { env: { DTRAIN_TRANSPORT: 'mpi' } });
    expect(overMpi.code, overMpi.stderr.slice(-3000)).to.equal(0);
    const underDtrain = await runJob({ np: 3, script: 'mpi-collectives.js', args: ALGORITHMS });
    expect(underDtrain.code, describeJob(underDtrain)).to.equal(0);
    for (const r of overMpi.results) {
      expect(r.transport).to.equal('mpi');
      const theirs = underDtrain.results.find((d) => d.rank === r.rank);
      expect(r.digests).to.deep.equal(theirs.digests);
    }
  });

  it('the README examples run unchanged: allreduce.js on 3 ranks, fashion-mnist.js for an epoch on 2', async function () {
    const a = await mpirun(3, ['examples/allreduce.js']);
    expect(a.code, a.stderr).to.equal(0);
    expect(a.stdout).to.match(/all-reduce \(sum, float32\) on 3 worker\(s\), transport shm/);
    const f = await mpirun(2, ['examples/fashion-mnist.js', '--epochs', '1', '--no-progress']);
    expect(f.code, f.stderr.slice(-3000)).to.equal(0);
    const summary = JSON.parse(f.stdout.split('\n').find((l) => l.startsWith('{"np"')));
    expect(summary.np).to.equal(2);
    expect(summary.test_acc).to.be.above(0.75);
  });

  it('a rank killed under mpirun: a survivor fails with ERR_DTRAIN_PEER_LOST naming it, and mpirun exits non-zero', async function () {
    const r = await mpirun(3, [path.join('test', 'workers', 'mpi-kill.js')]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.match(/rank [02]: ERR_DTRAIN_PEER_LOST: .*rank 1/);
  });

  it("algorithm 'mpi' outside mpirun is an error that says so, and the communicator stays usable", async function () {
    const r = await runJob({ np: 2, script: 'mpi-misuse.js' });
    expect(r.code, describeJob(r)).to.equal(0);
    for (const x of r.results) {
      expect(x.error).to.match(/algorithm 'mpi' needs a job started by mpirun/);
      expect(x.after).to.equal(3); // a ring all-reduce afterwards works
    }
  });
});
