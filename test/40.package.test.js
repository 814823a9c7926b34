'use strict';
// The published tarball installs and works on a machine with no compiler: `npm pack`, then
// `npm install` it into a fresh folder with a PATH that holds node and npm but no g++, cc or
// make, and run a two-worker all-reduce through the installed `dtrain` command.
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { expect } = require('chai');
const { ROOT } = require('./helpers');

describe('prebuilt package', function () {
  this.timeout(300000);
  let work;

  before(function () {
    const prebuilt = path.join(ROOT, 'prebuilds', 'linux-x64');
    if (!fs.existsSync(prebuilt) || !fs.readdirSync(prebuilt).some((f) => f.endsWith('.node'))) {
      throw new Error('no prebuilt addon in prebuilds/linux-x64: run `npm run build` first');
    }
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-pack-'));
  });

  after(function () {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('installs from the tarball without a compiler and runs a job', function () {
    // The build already ran (npm test builds first), so pack what is there.
    const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    const [info] = JSON.parse(out);
    const files = info.files.map((f) => f.path);
    expect(files).to.include('prebuilds/linux-x64/dtrain.node');
    expect(files).to.include('dist/index.js');
    expect(files).to.include('bin/dtrain.js');
    expect(files.some((f) => f.startsWith('build/'))).to.equal(false);

    // A PATH with node and npm only: no g++, cc, c++ or make can be found.
    const bin = path.join(work, 'bin');
    fs.mkdirSync(bin);
    for (const tool of ['node', 'npm', 'npx', 'sh']) {
      const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
      fs.symlinkSync(fs.realpathSync(found), path.join(bin, tool));
    }
    const env = { ...process.env, PATH: bin, npm_config_nodedir: '', CC: '', CXX: '' };
    for (const tool of ['g++', 'gcc', 'cc', 'c++', 'make']) {
      const r = spawnSync('sh', ['-c', `command -v ${tool}`], { env, encoding: 'utf8' });
      expect(r.status, `${tool} must not be on the test PATH`).to.not.equal(0);
    }

    const app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', path.join(work, info.filename)], {
      cwd: app,
      env,
      encoding: 'utf8',
    });
    expect(install.status, `npm install failed:\n${install.stdout}\n${install.stderr}`).to.equal(0);
    expect(fs.existsSync(path.join(app, 'node_modules', 'dtrain', 'build'))).to.equal(false);

    fs.writeFileSync(
      path.join(app, 'job.js'),
      `const d = require('dtrain');
       (async () => {
         await d.init();
         const b = await d.allreduce(new Float32Array(1000).fill(d.rank() + 1));
         console.log('sum', b[999], 'transport', d.size());
         await d.shutdown();
       })().catch((e) => { console.error(e); process.exit(1); });`,
    );
    const run = spawnSync(path.join(app, 'node_modules', '.bin', 'dtrain'), ['run', '-np', '2', 'job.js'], {
      cwd: app,
      env,
      encoding: 'utf8',
      timeout: 60000,
    });
    expect(run.status, `${run.stdout}\n${run.stderr}`).to.equal(0);
    expect(run.stdout).to.include('[0] sum 3 transport 2');
    expect(run.stdout).to.include('[1] sum 3 transport 2');

    const info2 = spawnSync(path.join(app, 'node_modules', '.bin', 'dtrain'), ['info'], { cwd: app, env, encoding: 'utf8' });
    expect(info2.status, info2.stderr).to.equal(0);
    expect(JSON.parse(info2.stdout).native.loaded).to.equal(true);

    // The README's main job and the training benchmarks, from the installed package (the
    // committed Fashion-MNIST slice ships in it).
    const dtrain = path.join(app, 'node_modules', '.bin', 'dtrain');
    const slice = { ...env, FASHION_MNIST_DIR: path.join(work, 'no-such-dir') };
    const example = path.join(app, 'node_modules', 'dtrain', 'examples', 'fashion-mnist.js');
    const train = spawnSync(dtrain, ['run', '-np', '2', example, '--epochs', '1'], { cwd: app, env: slice, encoding: 'utf8', timeout: 120000 });
    expect(train.status, `${train.stdout}\n${train.stderr}`).to.equal(0);
    expect(train.stdout).to.include('training on the 2000-image slice');
    expect(JSON.parse(train.stdout.trim().split('\n').pop().slice(4))).to.include({ np: 2, steps: 8 });
    const gemm = spawnSync(dtrain, ['bench', 'gemm', '--batches', '32', '--min-time', '0.01', '--no-numpy', '--json'], { cwd: app, env, encoding: 'utf8' });
    expect(gemm.status, gemm.stderr).to.equal(0);
    expect(gemm.stdout).to.include('"kind":"mlp_step"');
    const bench = spawnSync(dtrain, ['bench', 'train', '--np', '2', '--batches', '32', '--steps', '5', '--warmup', '1', '--no-torch', '--json'], {
      cwd: app,
      env: slice,
      encoding: 'utf8',
      timeout: 120000,
    });
    expect(bench.status, bench.stderr).to.equal(0);
    expect(bench.stdout).to.include('"kind":"train"');
    // The recipe's flags and the training simulator, from the installed package too.
    const recipe = spawnSync(dtrain, ['run', '-np', '2', example, '--epochs', '1', '--precision', 'mixed', '--compression', 'dgc'], { cwd: app, env: slice, encoding: 'utf8', timeout: 120000 });
    expect(recipe.status, `${recipe.stdout}\n${recipe.stderr}`).to.equal(0);
    expect(JSON.parse(recipe.stdout.trim().split('\n').pop().slice(4))).to.include({ precision: 'mixed', compression: 'dgc' });
    const sim = spawnSync(dtrain, ['simulate', '--train', '--np', '2,2048', '--compute-ms', '4', '--network', '10gbe', '--compression', 'none,fp16,dgc', '--json'], { cwd: app, env, encoding: 'utf8' });
    expect(sim.status, sim.stderr).to.equal(0);
    expect(sim.stdout.trim().split('\n').map((l) => JSON.parse(l).compression.split(':')[0])).to.include.members(['none', 'fp16', 'dgc']);
  });
});
