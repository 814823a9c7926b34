'use strict';
// `dtrain run`: environment, output prefixing, argument pass-through, failure and signal
// handling. Workers are small plain-JS scripts in test/workers/ that do not load the native
// addon. Uses the compiled dist/: run `npx tsc -p tsconfig.json` first.
const { spawn } = require('node:child_process');
const path = require('node:path');
const { expect } = require('chai');

const BIN = path.join(__dirname, '..', 'bin', 'dtrain.js');
const worker = (name) => path.join(__dirname, 'workers', name);

/** process.env without DTRAIN_* so the launcher's own values are the only ones seen. */
function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DTRAIN_')) env[k] = v;
  return { ...env, ...extra };
}

/**
 * Starts `dtrain ...args`. `done` resolves with the exit code, output and elapsed time;
 * `waitForLines(re, n)` resolves once n stdout lines match re.
 */
function dtrain(args, { env = cleanEnv() } = {}) {
  const started = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const watchers = [];
  child.stdout.setEncoding('utf8').on('data', (s) => {
    stdout += s;
    for (const w of watchers) w();
  });
  child.stderr.setEncoding('utf8').on('data', (s) => (stderr += s));
  const done = new Promise((resolve) => {
    child.on('close', (code, signal) =>
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started }),
    );
  });
  return {
    child,
    done,
    waitForLines(re, n) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const lines = stdout.split('\n').filter((l) => re.test(l));
          if (lines.length >= n) resolve(lines);
        };
        watchers.push(check);
        done.then((r) => reject(new Error(`launcher exited early: ${JSON.stringify(r)}`)));
        check();
      });
    },
  };
}

const run = (args, options) => dtrain(args, options).done;

/** Lines of `text`, without the empty string after a final newline. */
const lines = (text) => text.split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

describe('dtrain run', function () {
  it('sets the DTRAIN_* environment for every rank', async function () {
    const r = await run(['run', '-np', '3', '--transport', 'tcp', '--timeout', '12', worker('env.js')]);
    expect(r.code, r.stderr).to.equal(0);
    const envs = lines(r.stdout).map((line) => {
      const m = /^\[(\d+)\] (.*)$/.exec(line);
      expect(m, line).to.not.equal(null);
      return { prefix: Number(m[1]), env: JSON.parse(m[2]) };
    });
    expect(envs).to.have.lengthOf(3);
    const byRank = new Map(envs.map(({ prefix, env }) => [prefix, env]));
    expect([...byRank.keys()].sort()).to.deep.equal([0, 1, 2]);
    const first = byRank.get(0);
    expect(first.DTRAIN_STORE).to.match(/^127\.0\.0\.1:\d+$/);
    expect(first.DTRAIN_TOKEN).to.match(/^[0-9a-f]{64}$/);
    expect(first.DTRAIN_JOB_ID).to.match(/^[0-9a-f]{16}$/);
    for (const [rank, env] of byRank) {
      expect(env).to.deep.equal({
        DTRAIN_RANK: String(rank),
        DTRAIN_SIZE: '3',
        DTRAIN_LOCAL_RANK: String(rank),
        DTRAIN_LOCAL_SIZE: '3',
        DTRAIN_STORE: first.DTRAIN_STORE,
        DTRAIN_TOKEN: first.DTRAIN_TOKEN,
        DTRAIN_JOB_ID: first.DTRAIN_JOB_ID,
        DTRAIN_TRANSPORT: 'tcp',
        DTRAIN_TIMEOUT: '12',
      });
    }

    // Without the options those two are not exported, and every job gets a fresh token and id.
    const again = await run(['run', '-np', '1', worker('env.js')]);
    expect(again.code, again.stderr).to.equal(0);
    const env = JSON.parse(again.stdout.replace(/^\[0\] /, ''));
    expect(env).to.not.have.any.keys('DTRAIN_TRANSPORT', 'DTRAIN_TIMEOUT');
    expect(env.DTRAIN_TOKEN).to.not.equal(first.DTRAIN_TOKEN);
    expect(env.DTRAIN_JOB_ID).to.not.equal(first.DTRAIN_JOB_ID);
  });

  it('gives workers a working rendezvous store', async function () {
    const r = await run(['run', '-np', '3', worker('store-barrier.js')]);
    expect(r.code, r.stderr).to.equal(0);
    for (let rank = 0; rank < 3; rank++) {
      expect(r.stdout).to.include(`[${rank}] saw worker-0,worker-1,worker-2\n`);
    }
    expect(r.stderr).to.equal('');
  });

  for (const form of [['-np', '2'], ['-n', '2'], ['--np', '2'], ['--np=2'], ['-np=2']]) {
    it(`accepts ${form.join(' ')}`, async function () {
      const r = await run(['run', ...form, worker('args.js')]);
      expect(r.code, r.stderr).to.equal(0);
      expect(lines(r.stdout)).to.have.members(['[0] []', '[1] []']);
    });
  }

  it('passes everything after the script to the script untouched', async function () {
    const scriptArgs = ['-np', '3', '--foo', '--', '--grace', '1', 'with space', '', '-n'];
    const r = await run(['run', '-np', '2', worker('args.js'), ...scriptArgs]);
    expect(r.code, r.stderr).to.equal(0);
    const expected = JSON.stringify(scriptArgs);
    expect(lines(r.stdout)).to.have.members([`[0] ${expected}`, `[1] ${expected}`]);
  });

  it('prefixes stdout and stderr lines with the rank and flushes a final partial line', async function () {
    const r = await run(['run', '-np', '2', worker('output.js')]);
    expect(r.code, r.stderr).to.equal(0);
    for (const rank of [0, 1]) {
      const mine = lines(r.stdout).filter((l) => l.startsWith(`[${rank}] `));
      expect(mine).to.deep.equal([
        `[${rank}] out ${rank} line 0`,
        `[${rank}] out ${rank} line 1`,
        `[${rank}] out ${rank} line 2`,
        `[${rank}] tail ${rank}`,
      ]);
    }
    expect(lines(r.stdout)).to.have.lengthOf(8);
    expect(r.stdout.endsWith('\n')).to.equal(true);
    expect(lines(r.stderr)).to.have.members(['[0] err 0', '[1] err 1']);
  });

  it('never interleaves lines from different workers', async function () {
    const r = await run(['run', '-np', '3', worker('flood.js')]);
    expect(r.code, r.stderr).to.equal(0);
    const all = lines(r.stdout);
    expect(all).to.have.lengthOf(120);
    for (const line of all) {
      const m = /^\[(\d)\] (\d+)$/.exec(line);
      expect(m, line.slice(0, 80)).to.not.equal(null);
      expect(m[2]).to.equal(m[1].repeat(3000));
    }
  });

  it('exits with the failing worker\'s code and names the rank', async function () {
    const r = await run(['run', '-np', '3', worker('exit-code.js'), '1:7:0']);
    expect(r.code).to.equal(7);
    expect(r.stderr).to.include('dtrain: rank 1 exited with code 7\n');
    expect(r.stderr).to.include('[1] rank 1 failing with 7\n');
  });

  it('reports every worker that fails on its own but exits with the first code', async function () {
    const r = await run(['run', '-np', '3', '--grace', '5', worker('exit-code.js'), '2:3:0', '1:4:400']);
    expect(r.code).to.equal(3);
    expect(r.stderr).to.include('dtrain: rank 2 exited with code 3\n');
    expect(r.stderr).to.include('dtrain: rank 1 exited with code 4\n');
    expect(r.stderr.indexOf('rank 2 exited')).to.be.below(r.stderr.indexOf('rank 1 exited'));
    // Everyone exited by themselves, so nobody waited out the grace period.
    expect(r.ms).to.be.below(4000);
  });

  it('stops the other workers after the grace period when one is SIGKILLed', async function () {
    const job = dtrain(['run', '-np', '3', worker('sleep.js'), '--kill-self', '0'], {
      env: cleanEnv({ DTRAIN_GRACE: '0.5' }),
    });
    const pids = (await job.waitForLines(/ready \d+$/, 3)).map((l) => Number(l.split(' ').pop()));
    const r = await job.done;
    expect(r.code).to.equal(137);
    expect(r.stderr).to.include('dtrain: rank 0 was killed by signal SIGKILL\n');
    expect(r.stderr).to.include('dtrain: stopping ranks 1, 2 after the 0.5 s grace period\n');
    expect(r.ms).to.be.below(0.5 * 1000 + 4000);
    for (const pid of pids) expect(isAlive(pid), `pid ${pid}`).to.equal(false);
  });

  it('SIGKILLs workers that ignore SIGTERM 3 s after the grace period', async function () {
    const job = dtrain([
      'run', '-np', '3', '--grace', '0.2',
      worker('sleep.js'), '--ignore-sigterm', '--kill-self', '1',
    ]);
    const pids = (await job.waitForLines(/ready \d+$/, 3)).map((l) => Number(l.split(' ').pop()));
    const r = await job.done;
    expect(r.code).to.equal(137);
    expect(r.stderr).to.include('dtrain: rank 1 was killed by signal SIGKILL\n');
    expect(r.stderr).to.include('dtrain: ranks 0, 2 still running after SIGTERM, sending SIGKILL\n');
    expect(lines(r.stdout).filter((l) => l.endsWith('ignoring SIGTERM'))).to.have.lengthOf(2);
    expect(r.ms).to.be.within(3200, 8000);
    for (const pid of pids) expect(isAlive(pid), `pid ${pid}`).to.equal(false);
  });

  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]]) {
    it(`forwards ${signal} to every worker and exits ${code}`, async function () {
      const job = dtrain(['run', '-np', '3', worker('sleep.js')]);
      const pids = (await job.waitForLines(/ready \d+$/, 3)).map((l) => Number(l.split(' ').pop()));
      job.child.kill(signal);
      const r = await job.done;
      expect(r.code).to.equal(code);
      expect(r.stderr).to.include(`dtrain: received ${signal}`);
      // Workers killed on the launcher's behalf are not reported as failures.
      expect(r.stderr).to.not.include('was killed by signal');
      expect(r.ms).to.be.below(4000);
      for (const pid of pids) expect(isAlive(pid), `pid ${pid}`).to.equal(false);
    });
  }

  for (const bad of ['0', '-1', 'abc', '1.5', '']) {
    it(`rejects -np ${JSON.stringify(bad)} with exit 2`, async function () {
      const r = await run(['run', '-np', bad, worker('args.js')]);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.match(/--np.*Expected a positive integer/);
      expect(r.stdout).to.equal('');
    });
  }

  it('rejects a missing -np, a missing script and a bad --grace with exit 2', async function () {
    const noNp = await run(['run', worker('args.js')]);
    expect(noNp.code).to.equal(2);
    expect(noNp.stderr).to.match(/required option .*--np/);

    const noScript = await run(['run', '-np', '2', path.join(__dirname, 'workers', 'nope.js')]);
    expect(noScript.code).to.equal(2);
    expect(noScript.stderr).to.match(/^dtrain: script not found: .*nope\.js\n$/);

    const badGrace = await run(['run', '-np', '2', worker('args.js')], {
      env: cleanEnv({ DTRAIN_GRACE: 'soon' }),
    });
    expect(badGrace.code).to.equal(2);
    expect(badGrace.stderr).to.include('DTRAIN_GRACE');
  });
});
