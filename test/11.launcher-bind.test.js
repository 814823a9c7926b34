'use strict';
// dtrain run --bind-to: each worker on a CPU of its own when there is one per worker.
const { expect } = require('chai');
const { runJob, describeJob } = require('./helpers');
const { allowedCpus, cpuPlan, findTaskset } = require('../dist/launcher/cpu-affinity');

describe('launcher: --bind-to', function () {
  const cpus = allowedCpus();
  const canBind = findTaskset() !== undefined && cpus.length >= 2;

  it('auto binds rank r to its block of the allowed CPUs when there is one per worker, and says how many', async function () {
    if (!canBind) this.skip();
    const r = await runJob({ np: 2, script: 'affinity.js' });
    expect(r.code, describeJob(r)).to.equal(0);
    const byRank = r.results.sort((a, b) => a.rank - b.rank).map((x) => x.cpus);
    const half = Math.floor(cpus.length / 2);
    const list = (c) => (c.length === 1 ? String(c[0]) : `${c[0]}-${c[c.length - 1]}`);
    expect(byRank).to.deep.equal([list(cpus.slice(0, half)), list(cpus.slice(half, 2 * half))]);
    for (const x of r.results) expect(x.workerCpus).to.equal(String(half));
  });

  it('none leaves the whole mask; auto with more workers than CPUs does not bind', async function () {
    const all = (await runJob({ np: 1, script: 'affinity.js', launcherArgs: ['--bind-to', 'none'] })).results[0].cpus;
    const ranges = all.split(',').flatMap((p) => {
      const [a, b = a] = p.split('-').map(Number);
      return Array.from({ length: b - a + 1 }, (_, i) => a + i);
    });
    expect(ranges).to.deep.equal(cpus);
    const r = await runJob({ np: cpus.length + 1, script: 'affinity.js' });
    expect(r.code, describeJob(r)).to.equal(0);
    for (const x of r.results) expect(x.cpus).to.equal(all);
  });

  it('core with more workers than CPUs is a usage error naming the counts', async function () {
    const r = await runJob({ np: cpus.length + 1, script: 'affinity.js', launcherArgs: ['--bind-to', 'core'] });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include(`--bind-to core: ${cpus.length + 1} workers but only ${cpus.length} CPUs`);
    const bad = await runJob({ np: 1, script: 'affinity.js', launcherArgs: ['--bind-to', 'socket'] });
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.include("--bind-to must be auto, core or none, got 'socket'");
  });

  it('the plan: core, none, auto', function () {
    expect(cpuPlan(2, 'auto', [4, 6], '/usr/bin/taskset')).to.deep.equal([[4], [6]]);
    expect(cpuPlan(2, 'auto', [0, 1, 2, 3, 4], '/usr/bin/taskset')).to.deep.equal([[0, 1], [2, 3]]);
    expect(cpuPlan(3, 'auto', [4, 6], '/usr/bin/taskset')).to.equal(undefined);
    expect(cpuPlan(2, 'none', [4, 6], '/usr/bin/taskset')).to.equal(undefined);
    expect(cpuPlan(2, 'auto', [4, 6], null)).to.equal(undefined);
    expect(() => cpuPlan(2, 'core', [4, 6], null)).to.throw(/needs taskset/);
  });
});
