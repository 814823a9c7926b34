'use strict';
// The timeline (DTRAIN_TIMELINE / dtrain run --timeline): a Chrome-trace JSON of every
// collective's phases and the Trainer's, merged over the ranks by the launcher.
const { expect } = require('chai');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { runJob, describeJob, ROOT } = require('./helpers');

describe('timeline', function () {
  this.timeout(120000);
  let dir;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-tl-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const load = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));

  it('the example under dtrain run --timeline: one valid file, a pid per rank, collectives with phases and bytes, the Trainer\'s spans', function () {
    const file = path.join(dir, 'train.json');
    const empty = fs.mkdtempSync(path.join(dir, 'nofm-'));
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'dtrain.js'), 'run', '-np', '2', '--timeline', file, path.join(ROOT, 'examples', 'fashion-mnist.js'), '--epochs', '1'], {
      cwd: ROOT,
      env: { ...process.env, FASHION_MNIST_DIR: empty },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.include(`dtrain: timeline of 2 rank(s) written to ${file}`);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('train.json.'))).to.deep.equal([]); // parts merged away
    const ev = load(file);
    const names = ev.filter((e) => e.ph === 'M' && e.name === 'process_name').map((e) => e.args.name);
    expect(names.sort()).to.deep.equal(['rank 0', 'rank 1']);
    for (const pid of [0, 1]) {
      const calls = ev.filter((e) => e.pid === pid && e.ph === 'X' && e.cat === 'allreduce');
      // 8 steps, fused gradients: several all-reduces a step, each named with its size and algorithm.
      expect(calls.length).to.be.at.least(8);
      for (const c of calls) {
        expect(c.name).to.match(/^allreduce [\d.]+ (B|KiB|MiB)/);
        expect(c.args.bytes).to.be.above(0);
        expect(c.dur).to.be.at.least(0);
      }
      expect(ev.some((e) => e.pid === pid && e.cat === 'exchange')).to.equal(true);
      expect(ev.some((e) => e.pid === pid && e.cat === 'round' && /^round \d+$/.test(e.name))).to.equal(true);
      expect(ev.filter((e) => e.pid === pid && e.name === 'forward + backward')).to.have.length(8);
      // Buckets overlap one another: async begin/end pairs, which the viewers lay out in lanes.
      const begins = ev.filter((e) => e.pid === pid && e.ph === 'b' && /^bucket \d+ all-reduce/.test(e.name));
      const ends = new Set(ev.filter((e) => e.pid === pid && e.ph === 'e').map((e) => e.id));
      expect(begins.length).to.be.at.least(8);
      for (const b of begins) expect(ends.has(b.id), b.id).to.equal(true);
      // No two complete events on one track overlap without nesting (Perfetto would drop them).
      const byTrack = new Map();
      for (const e of ev.filter((x) => x.pid === pid && x.ph === 'X')) {
        if (!byTrack.has(e.tid)) byTrack.set(e.tid, []);
        byTrack.get(e.tid).push(e);
      }
      for (const [tid, xs] of byTrack) {
        xs.sort((a, b) => a.ts - b.ts || b.dur - a.dur);
        const stack = [];
        for (const x of xs) {
          while (stack.length && stack[stack.length - 1].ts + stack[stack.length - 1].dur <= x.ts + 0.002) stack.pop();
          const top = stack[stack.length - 1];
          if (top) expect(x.ts + x.dur, `tid ${tid}: ${x.name} inside ${top.name}`).to.be.at.most(top.ts + top.dur + 0.002);
          stack.push(x);
        }
      }
      // Rounds lie inside their call.
      const call = calls[calls.length - 1];
      const rounds = ev.filter((e) => e.pid === pid && e.cat === 'round' && e.args.seq === call.args.seq && e.args.communicator === call.args.communicator);
      for (const x of rounds) {
        expect(x.ts).to.be.at.least(call.ts - 1);
        expect(x.ts + x.dur).to.be.at.most(call.ts + call.dur + 1);
      }
    }
  });

  it('a rank killed mid-job: the launcher still merges what it had written into valid JSON', async function () {
    const file = path.join(dir, 'killed.json');
    const job = await runJob({ np: 2, script: 'timeline.js', args: ['killed', '100'], launcherArgs: ['--timeline', file] });
    expect(job.code, describeJob(job)).to.not.equal(0);
    const ev = load(file);
    for (const pid of [0, 1]) expect(ev.filter((e) => e.pid === pid && e.cat === 'allreduce').length, `rank ${pid}`).to.be.at.least(100);
  });

  it('rotates at DTRAIN_TIMELINE_MAX_MB and merges both parts', async function () {
    const file = path.join(dir, 'big.json');
    const job = await runJob({ np: 2, script: 'timeline.js', args: ['many', '6000'], launcherArgs: ['--timeline', file], env: { DTRAIN_TIMELINE_MAX_MB: '1' } });
    expect(job.code, describeJob(job)).to.equal(0);
    const ev = load(file);
    const calls = ev.filter((e) => e.pid === 0 && e.cat === 'allreduce').length;
    // Both parts are in: the previous one (up to 1 MiB) and the last.
    expect(calls).to.be.above(900);
    expect(calls).to.be.at.most(6050);
    expect(ev.filter((e) => e.ph === 'M' && e.name === 'process_name' && e.pid === 0).length).to.equal(2);
  });

  it('dtrain timeline FILE merges parts a launcher did not (init({ timeline }) under dtrain run)', async function () {
    const file = path.join(dir, 'byhand.json');
    const job = await runJob({ np: 2, script: 'timeline.js', args: ['code', file] });
    expect(job.code, describeJob(job)).to.equal(0);
    expect(fs.existsSync(file)).to.equal(false);
    expect(fs.readdirSync(dir).sort()).to.deep.equal(['byhand.json.rank0', 'byhand.json.rank1']);
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'dtrain.js'), 'timeline', file], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.include(`merged 2 rank(s) into ${file}`);
    const ev = load(file);
    expect([...new Set(ev.filter((e) => e.cat === 'allreduce').map((e) => e.pid))].sort()).to.deep.equal([0, 1]);
    const none = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'dtrain.js'), 'timeline', path.join(dir, 'nothing.json')], { encoding: 'utf8' });
    expect(none.status).to.equal(1);
    expect(none.stderr).to.match(/no parts .*nothing\.json\.rank<r> found/);
  });

  it('init({ timeline }) in a job of one writes the file itself, closed at exit', function () {
    const file = path.join(dir, 'alone.json');
    const r = spawnSync(process.execPath, [path.join(ROOT, 'test', 'workers', 'timeline.js'), 'alone', file], { encoding: 'utf8', env: { ...process.env, DTRAIN_TIMELINE: '' } });
    expect(r.status, r.stderr).to.equal(0);
    const ev = load(file);
    expect(ev.some((e) => e.cat === 'allreduce')).to.equal(true);
    expect(fs.readFileSync(file, 'utf8').trimEnd().endsWith(']')).to.equal(true);
  });

  it('a job of one killed before its exit: dtrain timeline FILE converts the raw file it left', function () {
    const file = path.join(dir, 'killed-alone.json');
    const r = spawnSync(process.execPath, [path.join(ROOT, 'test', 'workers', 'timeline.js'), 'alone', file, 'kill'], { encoding: 'utf8', env: { ...process.env, DTRAIN_TIMELINE: '' } });
    expect(r.signal).to.equal('SIGKILL');
    expect(() => load(file)).to.throw(); // raw records, not JSON yet
    const c = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'dtrain.js'), 'timeline', file], { encoding: 'utf8' });
    expect(c.status, c.stderr).to.equal(0);
    expect(c.stdout).to.include(`converted ${file}`);
    expect(load(file).some((e) => e.cat === 'allreduce')).to.equal(true);
  });

  it('init rejects a timeline that is not a file name', function () {
    const r = spawnSync(process.execPath, ['-e', "require('./').init({ timeline: 3 }).catch((e) => { console.log(e.message); process.exit(0); })"], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stdout).to.match(/init: timeline must be a file name/);
  });
});
