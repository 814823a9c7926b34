'use strict';
// The one table of error codes (ERROR_CODES in lib/common/errors.ts): it holds exactly the
// native core's codes plus those only the TypeScript raises, the README's "Errors" table is the
// same table, and each code is provoked here (checking err.code and the class that carries it)
// or, where another test already provokes it, that test is named and checked to do so.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { expect } = require('chai');
const dtrain = require('..');
const { ERROR_CODES } = require('../dist/common/errors');
const { configFromEnv } = require('../dist/comm/config');
const { loadBinding } = require('../dist/native');
const { runJob, describeJob, ROOT } = require('./helpers');

const CODES = Object.keys(ERROR_CODES);

function thrown(f) {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

function expectCode(err, code) {
  expect(err.code, err.message).to.equal(code);
  const cls = ERROR_CODES[code].thrownAs === 'DtrainError' ? dtrain.DtrainError : RangeError;
  expect(err).to.be.an.instanceof(cls);
}

// A job of one in a process of its own, so that no other test's init() has run there.
function runAlone(script, env = {}) {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'workers', script)], {
    cwd: ROOT,
    env: { ...process.env, DTRAIN_RANK: '', DTRAIN_SIZE: '', ...env },
    encoding: 'utf8',
    timeout: 60000,
  });
  expect(r.status, r.stderr).to.equal(0);
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  return JSON.parse(line.slice('RESULT '.length));
}

// Codes provoked here: each returns nothing and checks what it provoked.
const PROVOKED = {
  ERR_DTRAIN_INVALID_ARG() {
    const err = thrown(() => dtrain.kernels.dgcDecode(new Float32Array(4), [{ indices: Uint32Array.of(9), values: Float32Array.of(1) }]));
    expectCode(err, 'ERR_DTRAIN_INVALID_ARG');
    expectCode(thrown(() => loadBinding().algorithmId('bogus')), 'ERR_DTRAIN_INVALID_ARG');
  },
  ERR_DTRAIN_CONFIG() {
    // Variables read by lib/comm/config.ts: the message names the variable.
    for (const [name, value] of [
      ['DTRAIN_TRANSPORT', 'bogus'],
      ['DTRAIN_ALLREDUCE_ALGO', 'bogus'],
      ['DTRAIN_TCP_ADDR', 'localhost'],
      ['DTRAIN_TIMEOUT', 'soon'],
      ['DTRAIN_SHM_SPIN', 'lots'],
    ]) {
      const err = thrown(() => configFromEnv({}, 0, { [name]: value }));
      expectCode(err, 'ERR_DTRAIN_CONFIG');
      expect(err.message).to.include(name).and.include(value);
    }
    // The transport option given in code is an argument, not a setting: no code.
    expect(thrown(() => configFromEnv({ transport: 'bogus' }, 0, {})).code).to.equal(undefined);
  },
  ERR_DTRAIN_NOT_INITIALIZED() {
    const { before } = runAlone('lifecycle-codes.js');
    for (const [fn, err] of Object.entries(before)) {
      expect(err, fn).to.include({ isDtrainError: true, name: 'DtrainError', code: 'ERR_DTRAIN_NOT_INITIALIZED' });
      expect(err.message, fn).to.match(/init\(\)' first$/);
    }
  },
  ERR_DTRAIN_CLOSED() {
    const { closed, again } = runAlone('lifecycle-codes.js');
    for (const [fn, err] of Object.entries(closed)) {
      expect(err, fn).to.include({ isDtrainError: true, name: 'DtrainError', code: 'ERR_DTRAIN_CLOSED' });
      expect(err.message, fn).to.include('shutdown() has closed the job');
    }
    // After init() again every call works.
    for (const [fn, err] of Object.entries(again)) expect(err, fn).to.equal(null);
  },
  ERR_DTRAIN_BOOTSTRAP() {
    const err = thrown(() => configFromEnv({}, 0, { DTRAIN_RANK: '0', DTRAIN_SIZE: '2' }));
    expectCode(err, 'ERR_DTRAIN_BOOTSTRAP');
    expect(err.message).to.include('DTRAIN_STORE and DTRAIN_TOKEN are not set');
  },
  ERR_DTRAIN_NONFINITE() {
    const scaler = new dtrain.amp.LossScaler({ initScale: 1, minScale: 1 });
    const err = thrown(() => scaler.update(true));
    expectCode(err, 'ERR_DTRAIN_NONFINITE');
    expect(err.message).to.include('minScale');
  },
};

// Codes that other tests provoke (in multi-process jobs): the file and the check it makes.
const ELSEWHERE = {
  ERR_DTRAIN_MISMATCH: ['30.faults.test.js', "to.equal('ERR_DTRAIN_MISMATCH')"],
  ERR_DTRAIN_PEER_LOST: ['30.faults.test.js', "to.equal('ERR_DTRAIN_PEER_LOST')"],
  ERR_DTRAIN_TIMEOUT: ['30.faults.test.js', "to.equal('ERR_DTRAIN_TIMEOUT')"],
  ERR_DTRAIN_BROKEN: ['30.faults.test.js', "to.equal('ERR_DTRAIN_BROKEN')"],
  ERR_DTRAIN_MEMBERSHIP: ['85.elastic.test.js', "to.equal('ERR_DTRAIN_MEMBERSHIP')"],
  // On machines without a GPU; where there is one, that test runs the device buffers instead.
  ERR_DTRAIN_NO_GPU: ['89.cuda.test.js', "to.equal('ERR_DTRAIN_NO_GPU')"],
};

// Codes no test provokes, and why.
const NOT_PROVOKED = {
  ERR_DTRAIN_SYSTEM:
    'an operating-system call failing after the job has started; failures while init() sets up the transport are reported as ERR_DTRAIN_BOOTSTRAP, and nothing a test can do from JS makes a later OS call fail',
};

// The README's rows of the Errors table, by code.
function readmeRows() {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const rows = {};
  for (const line of readme.split('\n')) {
    const m = /^\| `(ERR_DTRAIN_[A-Z_]+)` \|/.exec(line);
    if (m) {
      expect(rows, `README: a second row for ${m[1]}`).to.not.have.property(m[1]);
      rows[m[1]] = line;
    }
  }
  return rows;
}

function expectedRow(code) {
  const e = ERROR_CODES[code];
  return `| \`${code}\` | \`${e.thrownAs}\` | ${e.when} | ${e.remedy} |`;
}

describe('error codes', function () {
  it('the table holds exactly the native codes (registry.constants.errorCodes) and the TypeScript ones', function () {
    const native = loadBinding().registry.constants.errorCodes;
    const tabledNative = CODES.filter((c) => ERROR_CODES[c].native);
    expect([...tabledNative].sort()).to.deep.equal([...native].sort());
    for (const c of CODES) {
      expect(c).to.match(/^ERR_DTRAIN_[A-Z_]+$/);
      expect(ERROR_CODES[c].when, c).to.be.a('string').and.not.include('\n').and.not.include('|');
      expect(ERROR_CODES[c].remedy, c).to.be.a('string').and.not.include('\n').and.not.include('|');
    }
  });

  it('the README has one row per code, the same as the table, and no other', function () {
    const rows = readmeRows();
    expect(Object.keys(rows).sort()).to.deep.equal([...CODES].sort());
    for (const c of CODES) expect(rows[c], `README row of ${c}; expected:\n${expectedRow(c)}`).to.equal(expectedRow(c));
  });

  it('every code is provoked here, provoked by another test, or listed with the reason it is not', function () {
    const accounted = [...Object.keys(PROVOKED), ...Object.keys(ELSEWHERE), ...Object.keys(NOT_PROVOKED)];
    expect(accounted.sort()).to.deep.equal([...CODES].sort());
  });

  for (const [code, provoke] of Object.entries(PROVOKED)) {
    it(`${code}: provoked, with that code and class`, provoke);
  }

  for (const [code, [file, check]] of Object.entries(ELSEWHERE)) {
    it(`${code}: provoked by test/${file}`, function () {
      expect(fs.readFileSync(path.join(__dirname, file), 'utf8')).to.include(check);
    });
  }

  it('DTRAIN_ISA naming a level the kernels cannot use: ERR_DTRAIN_CONFIG from a kernel, the model and init() on every rank', async function () {
    const levels = ['scalar', 'avx2', 'avx512'];
    const lacking = levels.filter((l) => !dtrain.kernels.info().supported.includes(l));
    for (const isa of ['bogus', ...lacking]) {
      const job = await runJob({ np: 2, script: 'isa-config.js', env: { DTRAIN_ISA: isa } });
      expect(job.code, describeJob(job)).to.equal(0);
      expect(job.results).to.have.length(2);
      for (const r of job.results) {
        for (const path of ['kernel', 'model', 'init']) {
          expect(r[path], `${isa}: ${path}`).to.include({ name: 'RangeError', isRangeError: true, code: 'ERR_DTRAIN_CONFIG' });
          expect(r[path].message).to.include(`DTRAIN_ISA=${isa}`);
        }
      }
    }
  });
});

describe('error codes in the typings', function () {
  it('DtrainError.code is the union of the codes: a known one type-checks, a misspelt one does not', function () {
    const ts = require('typescript');
    const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'dtrain-codes-'));
    const file = path.join(dir, 'use.ts');
    fs.writeFileSync(
      file,
      [
        `import { DtrainError, type DtrainErrorCode } from ${JSON.stringify(path.join(ROOT, 'dist', 'index'))};`,
        'export function check(err: DtrainError): number {',
        '  const code: DtrainErrorCode = err.code;',
        "  if (code === 'ERR_DTRAIN_PEER_LOST') return err.rank ?? -1;",
        '  // @ts-expect-error: not a code',
        "  if (err.code === 'ERR_DTRAIN_PEER_LOTS') return 1;",
        "  return new DtrainError('x', 'ERR_DTRAIN_CLOSED').ranks.length;",
        '}',
        '',
      ].join('\n'),
    );
    const program = ts.createProgram([file], { noEmit: true, strict: true, skipLibCheck: true, types: [] });
    const problems = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    fs.rmSync(dir, { recursive: true, force: true });
    expect(problems).to.deep.equal([]);
  });
});
