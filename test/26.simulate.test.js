'use strict';
// `dtrain simulate`: the engine's own schedules against the alpha-beta-gamma model.
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { expect } = require('chai');
const { ROOT } = require('./helpers');

const CLI = path.join(ROOT, 'bin', 'dtrain.js');
function simulate(...args) {
  const r = spawnSync(process.execPath, [CLI, 'simulate', ...args], { encoding: 'utf8', timeout: 60000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: r.status === 0 && args.includes('--json') ? JSON.parse(r.stdout) : null };
}

describe('dtrain simulate', function () {
  const model = ['--alpha', '5e-6', '--beta', '1e-10', '--gamma', '5e-11'];

  for (const algo of ['ring', 'halving-doubling']) {
    for (const np of [2, 8, 64, 1024]) {
      it(`${algo}, np=${np}: predicted_s matches formula_s within 1%`, function () {
        const { code, json, stderr } = simulate('--algo', algo, '-np', String(np), '--bytes', '1MiB', ...model, '--json');
        expect(code, stderr).to.equal(0);
        expect(json).to.include.keys('algo', 'np', 'bytes', 'steps', 'max_bytes_sent_per_rank', 'idle_ranks', 'predicted_s', 'formula_s');
        expect(json.algo).to.equal(algo);
        expect(json.np).to.equal(np);
        expect(json.bytes).to.equal(1 << 20);
        expect(Math.abs(json.predicted_s - json.formula_s) / json.formula_s).to.be.below(0.01);
      });
    }
  }

  it('ring sends 2n(p-1)/p bytes per rank in 2(p-1) steps', function () {
    const { json } = simulate('--algo', 'ring', '-np', '8', '--bytes', '8MiB', ...model, '--json');
    expect(json.max_bytes_sent_per_rank).to.equal((2 * (8 << 20) * 7) / 8);
    expect(json.steps).to.equal(14);
  });

  it('p=600: halving-doubling idles 88 ranks, binary blocks none, and is faster', function () {
    const hd = simulate('--algo', 'halving-doubling', '-np', '600', '--bytes', '1MiB', ...model, '--json').json;
    const bb = simulate('--algo', 'binary-blocks', '-np', '600', '--bytes', '1MiB', ...model, '--json').json;
    expect(hd.idle_ranks).to.equal(88);
    expect(bb.idle_ranks).to.equal(0);
    expect(bb.formula_s).to.equal(null);
    expect(bb.predicted_s).to.be.below(hd.predicted_s);
  });

  it('simulates 2,048 ranks at 256 MiB in a few seconds', function () {
    const t0 = Date.now();
    const { code, json } = simulate('--algo', 'ring', '-np', '2048', '--bytes', '256MiB', ...model, '--json');
    expect(code).to.equal(0);
    expect(Date.now() - t0).to.be.below(15000);
    expect(json.steps).to.equal(4094);
  });

  it('hierarchical uses --hosts', function () {
    const { json } = simulate('--algo', 'hierarchical:binary-blocks', '-np', '64', '--hosts', '8', '--bytes', '1MiB', '--json');
    expect(json.algo).to.equal('hierarchical:binary-blocks');
    expect(json.hosts).to.equal(8);
    expect(json.predicted_s).to.be.above(0);
  });

  it('models a faster link within a host with --intra-alpha/--intra-beta', function () {
    const args = ['--algo', 'hierarchical', '-np', '64', '--hosts', '8', '--bytes', '1MiB', '--alpha', '5e-5', '--beta', '1e-9', '--json'];
    const uniform = simulate(...args).json;
    const twoTier = simulate(...args, '--intra-alpha', '1e-6', '--intra-beta', '1e-10').json;
    expect(twoTier.predicted_s).to.be.below(uniform.predicted_s);
    expect(twoTier.model).to.include({ alpha_intra: 1e-6, beta_intra: 1e-10 });
    expect(twoTier.formula_s).to.equal(null);
  });

  it('prints a readable line without --json', function () {
    const { code, stdout } = simulate('--algo', 'binary-blocks', '-np', '13', '--bytes', '4096');
    expect(code).to.equal(0);
    expect(stdout).to.match(/^binary-blocks, 13 ranks, 4096 bytes: predicted .* \(no closed form\)/);
  });

  it('reads sizes with the CLI\'s one parser: MiB = 2^20, MB = 10^6, whole float32 elements', function () {
    expect(simulate('--algo', 'ring', '-np', '2', '--bytes', '1MiB', '--json').json.bytes).to.equal(1048576);
    expect(simulate('--algo', 'ring', '-np', '2', '--bytes', '1MB', '--json').json.bytes).to.equal(1000000);
    expect(simulate('--algo', 'ring', '-np', '2', '--bytes', '1.5KiB', '--json').json.bytes).to.equal(1536);
    let r = simulate('--algo', 'ring', '-np', '2', '--bytes', '1M', '--json');
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/ambiguous: say MiB or MB/);
    r = simulate('--algo', 'ring', '-np', '2', '--bytes', '6', '--json');
    expect(r.code).to.equal(2);
    expect(r.stderr.trim()).to.equal('dtrain: --bytes 6 is not a whole number of float32 elements (4 bytes each): 1.5 elements; say 4 or 8');
    // An all-gather moves bytes as they are (packed codes of any length).
    expect(simulate('--algo', 'ring', '-np', '2', '--bytes', '6', '--collective', 'allgather', '--json').json.bytes).to.equal(6);
  });

  it('rejects bad input with exit 2 and a message', function () {
    let r = simulate('--algo', 'bogus', '-np', '4', '--bytes', '4096');
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/unknown all-reduce algorithm 'bogus'/);
    r = simulate('--algo', 'ring', '-np', '0', '--bytes', '4096');
    expect(r.code).to.equal(2);
    r = simulate('--algo', 'ring', '-np', '4', '--bytes', 'lots');
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/byte count/);
    r = simulate('--algo', 'auto', '-np', '4', '--bytes', '4096');
    expect(r.code).to.equal(2);
    r = simulate('--algo', 'hierarchical', '-np', '4', '--hosts', '5', '--bytes', '4096');
    expect(r.code).to.equal(2);
  });
});
