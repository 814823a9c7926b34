'use strict';
// Configuration is read in one place (lib/comm/config.ts): its table of variables is what the
// README's "Environment variables" section lists, nothing else in lib/ reads a DTRAIN_*
// variable, nothing in native/ reads the environment at all, and bad values are errors that
// name the variable. Uses the compiled dist/.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { expect } = require('chai');
const { ROOT } = require('./helpers');
const config = require('../dist/comm/config');

/** The README table's rows: each variable named in a row's first cell, with the row's default. */
function readmeVariables() {
  const text = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = text.slice(text.indexOf('### Environment variables'));
  const table = section.slice(0, section.indexOf('\n\n', section.indexOf('| variable')));
  const rows = new Map();
  for (const line of table.split('\n').slice(2)) {
    const cells = line.split('|').map((c) => c.trim());
    for (const [name] of cells[1].matchAll(/DTRAIN_[A-Z0-9_]+/g)) rows.set(name, cells[2]);
  }
  return rows;
}

function filesUnder(dir, exts) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p, exts));
    else if (exts.some((x) => e.name.endsWith(x))) out.push(p);
  }
  return out;
}

describe('configuration', function () {
  it('the README lists exactly the variables of the config table, with the same defaults', function () {
    const readme = readmeVariables();
    const table = new Map(config.ENVIRONMENT.map((v) => [v.name, v.default]));
    expect([...readme.keys()].sort()).to.deep.equal([...table.keys()].sort());
    for (const [name, dflt] of table) expect(readme.get(name), name).to.equal(dflt);
  });

  it('nothing in lib/ but lib/comm/config.ts reads a DTRAIN_* variable', function () {
    const offenders = [];
    for (const file of filesUnder(path.join(ROOT, 'lib'), ['.ts'])) {
      if (file.endsWith(path.join('comm', 'config.ts'))) continue;
      const text = fs.readFileSync(file, 'utf8');
      // A read: env.DTRAIN_X or env['DTRAIN_X'] not being assigned to.
      for (const m of text.matchAll(/\benv(?:\.|\[['"])(DTRAIN_[A-Z_]+)\b(?:['"]\])?(?!\s*=[^=])/g)) {
        offenders.push(`${path.relative(ROOT, file)}: ${m[1]}`);
      }
    }
    expect(offenders).to.deep.equal([]);
  });

  it('nothing in native/ reads the environment: the configuration is passed down', function () {
    const offenders = [];
    for (const file of filesUnder(path.join(ROOT, 'native'), ['.h', '.cc', '.cu'])) {
      const text = fs.readFileSync(file, 'utf8');
      if (/\b(secure_)?getenv\s*\(|\benviron\b/.test(text)) offenders.push(path.relative(ROOT, file));
    }
    expect(offenders).to.deep.equal([]);
  });

  describe('configFromEnv', function () {
    const base = { DTRAIN_RANK: '0', DTRAIN_SIZE: '2', DTRAIN_STORE: '127.0.0.1:1', DTRAIN_TOKEN: 't' };
    const from = (env, options = {}) => config.configFromEnv(options, 0, { HOME: os.tmpdir(), ...base, ...env }).config;

    it('passes every setting down, options in code first', function () {
      const c = from({ DTRAIN_SHM_SPIN: '300', DTRAIN_GROUP_SIZE: '2', DTRAIN_TEST_STALL_MS: '15', DTRAIN_TRANSPORT: 'tcp' }, { transport: 'auto' });
      expect(c).to.include({ shmSpin: 300, localSizeOverride: 2, testStallMs: 15, transport: 'auto' });
      expect(from({})).to.include({ shmSpin: -1, localSizeOverride: 0, testStallMs: 0, transport: 'shm', stallWarnSec: 60 });
      expect(from({ DTRAIN_STALL_WARN: '0' }).stallWarnSec).to.equal(0);
      expect(from({ DTRAIN_STALL_WARN: '2.5' }).stallWarnSec).to.equal(2.5);
      // DTRAIN_LOCAL_SIZE, which the launcher always exports, does not regroup the ranks.
      expect(from({ DTRAIN_LOCAL_SIZE: '2' }).localSizeOverride).to.equal(0);
    });

    it('refuses bad values, naming the variable and what it must be', function () {
      expect(() => from({ DTRAIN_SHM_SPIN: 'lots' })).to.throw(RangeError, /DTRAIN_SHM_SPIN must be an integer from 0 to 10000000, got 'lots'/);
      expect(() => from({ DTRAIN_TRANSPORT: 'carrier-pigeon' })).to.throw(RangeError, /DTRAIN_TRANSPORT must be 'auto', 'shm', 'tcp' or 'mpi', got 'carrier-pigeon'/);
      expect(() => from({}, { transport: 'udp' })).to.throw(RangeError, /transport must be 'auto', 'shm', 'tcp' or 'mpi', got 'udp'/);
      expect(() => config.configFromEnv({}, 0, { ...base, DTRAIN_ALLREDUCE_ALGO: 'fastest' })).to.throw(
        RangeError,
        /DTRAIN_ALLREDUCE_ALGO: unknown all-reduce algorithm 'fastest'; known: auto, ring/,
      );
      expect(() => from({ DTRAIN_GAMMA: '-1' })).to.throw(RangeError, /DTRAIN_GAMMA must be a number >= 0/);
      expect(() => from({ DTRAIN_STALL_WARN: 'often' })).to.throw(RangeError, /DTRAIN_STALL_WARN must be a number of seconds >= 0 \(0: never\), got 'often'/);
      expect(() => config.graceFromEnv({ DTRAIN_GRACE: 'soon' })).to.throw(RangeError, /DTRAIN_GRACE must be a number of seconds, got "soon"/);
    });

    it("auto's cost model: the transport's default, then the calibration file, then the environment", function () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-cal-'));
      try {
        const file = path.join(dir, 'calibration.json');
        const shmDefault = config.costModelFor('shm', { HOME: dir });
        expect(shmDefault).to.deep.equal({ alpha: 1e-6, beta: 1e-10, gamma: 1.2e-10 });
        fs.writeFileSync(file, JSON.stringify({ tcp: { alpha: 3e-5, beta: 5e-10, gamma: 2e-10, np: 2 } }));
        const env = { DTRAIN_CALIBRATION: file, DTRAIN_GAMMA: '7e-11' };
        expect(config.costModelFor('tcp', env)).to.deep.equal({ alpha: 3e-5, beta: 5e-10, gamma: 7e-11 });
        expect(config.costModelFor('shm', env)).to.deep.equal({ alpha: 1e-6, beta: 1e-10, gamma: 7e-11 });
        expect(from({ DTRAIN_CALIBRATION: file }).costModels.tcp).to.deep.equal({ alpha: 3e-5, beta: 5e-10, gamma: 2e-10 });
        fs.writeFileSync(file, '{ not json');
        expect(() => config.costModelFor('tcp', env)).to.throw(RangeError, /is not JSON.*--calibrate/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
