'use strict';
// The registries' promise: adding an algorithm or a transport is one file and one line in a list.
// native/test/toy/ adds a toy algorithm (toy-gather) and a toy transport (toy-store) that way, and
// CMake builds an addon over those lists (cmake-build/toy-addon, by `npm run test:native`). Here
// that addon stands in a copy of the package, and the toy shows up everywhere with no other edit:
// `dtrain info`, `dtrain simulate` (with its closed form), the binding's names, auto's candidates,
// and a real job over the toy transport.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { expect } = require('chai');
const { ROOT, runJob } = require('./helpers');

const TOY_ADDON = path.join(ROOT, 'cmake-build', 'toy-addon', 'dtrain.node');

describe('a toy algorithm and a toy transport, added with one file and one registry line each', function () {
  this.timeout(120000);
  let pkg;

  before(function () {
    if (!fs.existsSync(TOY_ADDON)) {
      throw new Error(`no toy addon at ${TOY_ADDON}: run \`npm run test:native\` first (CMake builds it)`);
    }
    // A copy of the package whose addon is the toy build: dist/, bin/ and package.json as they
    // are, the toy addon where node-gyp-build looks first.
    pkg = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-toy-'));
    for (const dir of ['dist', 'bin']) fs.cpSync(path.join(ROOT, dir), path.join(pkg, dir), { recursive: true });
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
    fs.mkdirSync(path.join(pkg, 'build', 'Release'), { recursive: true });
    fs.copyFileSync(TOY_ADDON, path.join(pkg, 'build', 'Release', 'dtrain.node'));
  });

  after(function () {
    if (pkg) fs.rmSync(pkg, { recursive: true, force: true });
  });

  const cli = (...args) => spawnSync(process.execPath, [path.join(pkg, 'bin', 'dtrain.js'), ...args], { encoding: 'utf8', timeout: 60000 });

  it('`dtrain info` lists them: all-reduce names, auto candidates, transports', function () {
    const r = cli('info');
    expect(r.status, r.stderr).to.equal(0);
    const info = JSON.parse(r.stdout);
    expect(info.algorithms).to.include('toy-gather');
    expect(info.algorithms).to.include('hierarchical:<ring|halving-doubling|binary-blocks|recursive-doubling|direct|toy-gather>');
    expect(info.collectives.reduceScatter).to.not.include('toy-gather');
    expect(info.auto.allreduce).to.include('toy-gather');
    expect(info.transports).to.deep.equal(['shm', 'tcp', 'mpi', 'toy-store']);
    expect(info.auto.transport).to.include('toy-store');
  });

  it('`dtrain simulate` runs its schedules and prints its closed form', function () {
    const r = cli('simulate', '--algo', 'toy-gather', '-np', '16', '--bytes', '1MiB', '--alpha', '5e-6', '--beta', '1e-10', '--gamma', '5e-11', '--json');
    expect(r.status, r.stderr).to.equal(0);
    const s = JSON.parse(r.stdout);
    expect(s.algo).to.equal('toy-gather');
    expect(s.steps).to.equal(16);
    expect(s.formula_s).to.be.a('number');
    expect(Math.abs(s.predicted_s - s.formula_s) / s.formula_s).to.be.below(0.01);
    const bad = cli('simulate', '--algo', 'toy-gatherer', '-np', '4', '--bytes', '4096');
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.match(/known: .*toy-gather/);
  });

  it('the binding takes the names and exports the entries', function () {
    const { loadBinding } = require(path.join(pkg, 'dist', 'native'));
    const b = loadBinding();
    expect(b.algorithmId('toy-gather')).to.be.above(0);
    expect(() => b.algorithmId('toy-gather', b.registry.constants.opKinds.allgather)).to.throw(RangeError, /unknown all-gather algorithm/);
    const entry = b.registry.algorithms.find((a) => a.name === 'toy-gather');
    expect(entry).to.include({ auto: true, closedForm: true, takesInner: false });
    expect(entry.collectives).to.deep.equal(['allreduce']);
    const t = b.registry.transports.find((x) => x.name === 'toy-store');
    expect(t.defaultCostModel.alpha).to.equal(2e-4);
  });

  it('a job runs over the toy transport, with the toy algorithm among auto\'s candidates', async function () {
    const job = await runJob({
      np: 3,
      script: 'toy.js',
      args: [pkg],
      launcherArgs: ['--transport', 'toy-store'],
      env: { DTRAIN_TIMEOUT: '20' },
      cli: path.join(pkg, 'bin', 'dtrain.js'),
    });
    expect(job.code, `${job.stdout}\n${job.stderr}`).to.equal(0);
    expect(job.results).to.have.length(3);
    for (const r of job.results) {
      expect(r.transport).to.equal('toy-store');
      expect(r.sums).to.deep.equal([true, true, true, true]);
      expect(r.candidates).to.include('toy-gather');
      expect(r.gathered).to.deep.equal([0, 1, 2]);
      expect(r.broadcast).to.equal(6);
      expect(r.auto).to.equal(3);
    }
  });
});
