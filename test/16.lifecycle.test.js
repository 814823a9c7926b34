'use strict';
// Communicator lifecycle: init, shutdown, init again; a job of one without the launcher.
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { expect } = require('chai');
const { runJob, describeJob, ROOT } = require('./helpers');

describe('communicator lifecycle', function () {
  for (const np of [1, 2, 3]) {
    it(`np=${np}: shutdown() then init() works again, and the process exits 0`, async function () {
      const job = await runJob({ np, script: 'reinit.js' });
      expect(job.code, describeJob(job)).to.equal(0);
      expect(job.results).to.have.length(np);
      const base = (np * (np - 1)) / 2;
      for (const r of job.results) {
        expect(r.sums).to.deep.equal([base, base + np, base + 2 * np]);
        expect(r.closedCode).to.match(/shutdown\(\) has closed the job; call 'await init\(\)' first/);
        expect(r.closedErrorCode).to.equal('ERR_DTRAIN_CLOSED');
      }
    });
  }

  it('runs as a job of one without the launcher', function () {
    const r = spawnSync(process.execPath, [path.join(__dirname, 'workers', 'reinit.js')], {
      cwd: ROOT,
      env: { ...process.env, DTRAIN_RANK: '', DTRAIN_SIZE: '' },
      encoding: 'utf8',
      timeout: 30000,
    });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.include('RESULT {"sums":[0,1,2]');
  });

  it('explains what to do when DTRAIN_SIZE is set without a store', function () {
    const r = spawnSync(process.execPath, [path.join(__dirname, 'workers', 'reinit.js')], {
      cwd: ROOT,
      env: { ...process.env, DTRAIN_RANK: '0', DTRAIN_SIZE: '2', DTRAIN_STORE: '', DTRAIN_TOKEN: '' },
      encoding: 'utf8',
      timeout: 30000,
    });
    expect(r.status).to.equal(1);
    expect(r.stderr).to.include('start workers with `dtrain run -np N script.js`');
  });
});
