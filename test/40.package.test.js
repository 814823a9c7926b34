'use strict';
// The published tarball installs and works on a machine with no compiler: `npm pack`, then
// `npm install` it into a fresh folder with a PATH that holds node and npm but no g++, cc or
// make, and run every command the README documents through the installed `dtrain` (small
// sizes), and the peer benchmarks from bench/peers/ where their runtimes exist.
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { expect } = require('chai');
const { ROOT } = require('./helpers');

const lastJson = (stdout, prefix = 0) => JSON.parse(stdout.trim().split('\n').pop().slice(prefix));
const jsonLines = (stdout) => stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const torchPython = ['/usr/bin/python3', 'python3'].find((py) => spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);

describe('prebuilt package', function () {
  this.timeout(180000);
  let work;
  let files;
  let app;
  let env; // node and npm only: no compiler
  let slice; // ... and no Fashion-MNIST but the shipped slice
  const ran = new Set();

  /** Runs the installed `dtrain` in the app; `command` names what the README documents. */
  function dtrain(command, args, options = {}) {
    ran.add(command);
    const bin = path.join(app, 'node_modules', '.bin', 'dtrain');
    const r = spawnSync(bin, args, { cwd: app, env, encoding: 'utf8', timeout: 120000, ...options });
    expect(r.status, `dtrain ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).to.equal(0);
    return r;
  }

  before(function () {
    const prebuilt = path.join(ROOT, 'prebuilds', 'linux-x64');
    if (!fs.existsSync(prebuilt) || !fs.readdirSync(prebuilt).some((f) => f.endsWith('.node'))) {
      throw new Error('no prebuilt addon in prebuilds/linux-x64: run `npm run build` first');
    }
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-pack-'));
    // The build already ran (npm test builds first), so pack what is there.
    const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8' });
    const [info] = JSON.parse(out);
    files = info.files.map((f) => f.path);

    // A PATH with node and npm only: no g++, cc, c++ or make can be found.
    const bin = path.join(work, 'bin');
    fs.mkdirSync(bin);
    for (const tool of ['node', 'npm', 'npx', 'sh']) {
      const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
      fs.symlinkSync(fs.realpathSync(found), path.join(bin, tool));
    }
    env = {
      ...process.env,
      PATH: bin,
      npm_config_nodedir: '',
      CC: '',
      CXX: '',
      DTRAIN_CALIBRATION: path.join(work, 'calibration.json'),
      XDG_CACHE_HOME: path.join(work, 'cache'),
    };
    slice = { ...env, FASHION_MNIST_DIR: path.join(work, 'no-such-dir') };
    for (const tool of ['g++', 'gcc', 'cc', 'c++', 'make']) {
      const r = spawnSync('sh', ['-c', `command -v ${tool}`], { env, encoding: 'utf8' });
      expect(r.status, `${tool} must not be on the test PATH`).to.not.equal(0);
    }

    app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', path.join(work, info.filename)], { cwd: app, env, encoding: 'utf8' });
    expect(install.status, `npm install failed:\n${install.stdout}\n${install.stderr}`).to.equal(0);
    expect(fs.existsSync(path.join(app, 'node_modules', 'dtrain', 'build'))).to.equal(false);
  });

  after(function () {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('holds the prebuilt addon, the CLI, its workers and peers, docs/, LICENSE and every file the READMEs link to', function () {
    expect(files).to.include.members([
      'prebuilds/linux-x64/dtrain.node',
      'dist/index.js',
      'bin/dtrain.js',
      'bench/allreduce-worker.js',
      'bench/calibrate-worker.js',
      'bench/train-worker.js',
      'bench/torch_kernels.py',
      'bench/peers/README.md',
      'bench/peers/mpi_allreduce.c',
      'bench/peers/gloo_allreduce.py',
      'bench/peers/torch_ddp.py',
      'bench/peers/tfjs_train.js',
      'bench/peers/numpy_gemm.py',
      'docs/benchmarks.md',
      'LICENSE',
    ]);
    expect(files.some((f) => f.startsWith('build/'))).to.equal(false);
    // Every file the CLI starts by path (join(__dirname, '..', '..', 'bench', ...) and
    // peerPath('...') in the compiled dist/cli/) ships.
    const cliDir = path.join(ROOT, 'dist', 'cli');
    let started = 0;
    for (const f of fs.readdirSync(cliDir).filter((n) => n.endsWith('.js'))) {
      const text = fs.readFileSync(path.join(cliDir, f), 'utf8');
      for (const m of text.matchAll(/join\)?\(__dirname, '\.\.', '\.\.', ((?:'[^']+'(?:, )?)+)\)/g)) {
        const rel = [...m[1].matchAll(/'([^']+)'/g)].map((x) => x[1]).join('/');
        if (rel === 'bench/peers') continue; // the folder itself (PEERS_DIR)
        expect(files, `${f} starts ${rel}`).to.include(rel);
        started++;
      }
      for (const m of text.matchAll(/peerPath\)?\('([^']+)'\)/g)) {
        expect(files, `${f} runs bench/peers/${m[1]}`).to.include(`bench/peers/${m[1]}`);
        started++;
      }
    }
    expect(started, 'scripts the CLI starts').to.be.at.least(10);
    // Relative links of the READMEs and docs/ resolve inside the tarball.
    for (const doc of files.filter((f) => f.endsWith('.md'))) {
      const text = fs.readFileSync(path.join(ROOT, doc), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target)) continue;
        const rel = path.posix.normalize(path.posix.join(path.posix.dirname(doc), target));
        expect(files, `${doc} links to ${target}`).to.include(rel);
      }
    }
    const license = fs.readFileSync(path.join(app, 'node_modules', 'dtrain', 'LICENSE'), 'utf8');
    expect(license).to.match(/^MIT License/);
    expect(license).to.include('Copyright (c) 2026 the dtrain authors');
    const pkg = JSON.parse(fs.readFileSync(path.join(app, 'node_modules', 'dtrain', 'package.json'), 'utf8'));
    expect(pkg).to.include({ license: 'MIT' });
    expect(pkg.repository).to.deep.equal({ type: 'git', url: 'git+https://github.com/dtrain-js/dtrain.git' });
  });

  it('dtrain run: a job, the README\'s examples and its recipe', function () {
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
    const run = dtrain('run', ['run', '-np', '2', 'job.js'], { timeout: 60000 });
    expect(run.stdout).to.include('[0] sum 3 transport 2');
    expect(run.stdout).to.include('[1] sum 3 transport 2');

    const examples = path.join(app, 'node_modules', 'dtrain', 'examples');
    const allreduce = dtrain('run', ['run', '-np', '2', path.join(examples, 'allreduce.js'), '--iters', '0.05']);
    expect(lastJson(allreduce.stdout, 4)).to.include({ np: 2, bytes: 64 << 20 });
    // The committed Fashion-MNIST slice ships in the package.
    const example = path.join(examples, 'fashion-mnist.js');
    const train = dtrain('run', ['run', '-np', '2', example, '--epochs', '1'], { env: slice });
    expect(train.stdout).to.include('training on the 2000-image slice');
    expect(lastJson(train.stdout, 4)).to.include({ np: 2, steps: 8 });
    const recipe = dtrain('run', ['run', '-np', '2', example, '--epochs', '1', '--precision', 'mixed', '--compression', 'dgc'], { env: slice });
    expect(lastJson(recipe.stdout, 4)).to.include({ precision: 'mixed', compression: 'dgc' });
    // Parameter servers: the launcher finds the installed package's server entry point.
    const ps = dtrain('run', ['run', '-np', '2', '--servers', '1', example, '--epochs', '1', '--mode', 'ps-async'], { env: slice });
    expect(lastJson(ps.stdout, 4)).to.include({ np: 2, mode: 'ps-async', servers: 1, steps: 8 });
  });

  it('dtrain info', function () {
    const info = JSON.parse(dtrain('info', ['info']).stdout);
    expect(info.native.loaded).to.equal(true);
    expect(info.algorithms).to.include('ring');
    // Where the build had nvcc, the CUDA kernels ship beside the addon and are found there (they
    // load only where a GPU is).
    if (files.includes('prebuilds/linux-x64/libdtrain_cuda.so')) {
      expect(info.cudaKernels.library).to.equal(path.join(app, 'node_modules', 'dtrain', 'prebuilds', 'linux-x64', 'libdtrain_cuda.so'));
    } else {
      expect(spawnSync('sh', ['-c', 'command -v nvcc']).status, 'nvcc is here, so npm run build must have built the CUDA kernels').to.not.equal(0);
    }
  });

  it('dtrain bench allreduce: sizes with units, --dtype, --predict and --calibrate', function () {
    const lines = jsonLines(dtrain('bench allreduce', ['bench', 'allreduce', '-np', '2', '--max-bytes', '16KiB', '--predict']).stdout);
    const ours = lines.filter((l) => l.impl === 'dtrain');
    expect(ours.map((l) => [l.bytes, l.ok])).to.deep.equal([
      [4096, true],
      [16384, true],
    ]);
    expect(lines.filter((l) => l.compare === 'measured/predicted')).to.have.length(2);
    const half = jsonLines(dtrain('bench allreduce', ['bench', 'allreduce', '-np', '2', '--max-bytes', '1KB', '--dtype', 'bfloat16', '--mode', 'sync']).stdout);
    expect(half).to.have.length(1);
    expect(half[0]).to.include({ bytes: 1000, dtype: 'bfloat16', mode: 'sync', ok: true });
    const cal = lastJson(dtrain('bench allreduce --calibrate', ['bench', 'allreduce', '--calibrate', '-np', '2']).stdout);
    expect(cal).to.include({ np: 2, file: env.DTRAIN_CALIBRATION });
    const stored = JSON.parse(fs.readFileSync(env.DTRAIN_CALIBRATION, 'utf8'))[cal.calibrated];
    expect(stored.alpha).to.equal(cal.alpha);
    // `simulate --transport` starts from what --calibrate stored.
    const sim = JSON.parse(dtrain('simulate', ['simulate', '--algo', 'ring', '-np', '2', '--bytes', '1MiB', '--transport', cal.calibrated, '--json']).stdout);
    expect(sim.model).to.include({ alpha: cal.alpha, beta: cal.beta });
  });

  it('dtrain bench kernels, gemm and train', function () {
    const kernels = jsonLines(dtrain('bench kernels', ['bench', 'kernels', '--bytes', '64KiB', '--kernels', 'reduce_sum_f32', '--min-time', '0.01', '--no-torch', '--json']).stdout);
    expect(kernels.filter((l) => l.kernel === 'reduce_sum_f32').length).to.be.at.least(1);
    expect(kernels.every((l) => l.bytes === 65536)).to.equal(true);
    const gemm = dtrain('bench gemm', ['bench', 'gemm', '--batches', '32', '--min-time', '0.01', '--no-numpy', '--json']);
    expect(gemm.stdout).to.include('"kind":"mlp_step"');
    const args = ['bench', 'train', '--np', '2', '--batches', '32', '--steps', '5', '--warmup', '1', '--no-torch', '--json'];
    const bench = dtrain('bench train', args, { env: slice });
    expect(bench.stdout).to.include('"kind":"train"');
  });

  it('dtrain simulate and simulate --train', function () {
    const one = JSON.parse(dtrain('simulate', ['simulate', '--algo', 'halving-doubling', '-np', '64', '--bytes', '1MB', '--network', '10gbe', '--json']).stdout);
    expect(one).to.include({ algo: 'halving-doubling', np: 64, bytes: 1000000 });
    const args = ['simulate', '--train', '--np', '2,2048', '--compute-ms', '4', '--network', '10gbe', '--compression', 'none,fp16,dgc', '--json'];
    const sim = dtrain('simulate --train', args);
    expect(jsonLines(sim.stdout).map((l) => l.compression.split(':')[0])).to.include.members(['none', 'fp16', 'dgc']);
  });

  it("dtrain/tfjs: names what to install without tfjs, and the tfjs example trains on 2 workers once it is installed", function () {
    const probe = "try { require('dtrain/tfjs') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }";
    const without = JSON.parse(spawnSync('node', ['-e', probe], { cwd: app, env, encoding: 'utf8' }).stdout);
    expect(without.code).to.equal('MODULE_NOT_FOUND');
    expect(without.message).to.match(/npm install @tensorflow\/tfjs/);
    const example = path.join(app, 'node_modules', 'dtrain', 'examples', 'tfjs-fashion-mnist.js');
    const missing = spawnSync(path.join(app, 'node_modules', '.bin', 'dtrain'), ['run', '-np', '1', example], { cwd: app, env, encoding: 'utf8' });
    expect(missing.status).to.not.equal(0);
    expect(missing.stderr + missing.stdout).to.include('npm install @tensorflow/tfjs');

    // tfjs is the application's dependency: install it as a user would (from npm's cache when
    // the repository's own install put it there).
    const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '@tensorflow/tfjs@^4.22.0'], { cwd: app, env, encoding: 'utf8', timeout: 300000 });
    expect(install.status, `npm install @tensorflow/tfjs failed:\n${install.stdout}\n${install.stderr}`).to.equal(0);
    const args = ['run', '-np', '2', example, '--epochs', '1', '--train-samples', '512', '--test-samples', '100'];
    const run = dtrain('run', args, { env: slice });
    expect(lastJson(run.stdout, 4)).to.include({ np: 2, backend: 'cpu', epochs: 1, train_samples: 512 });
  });

  it('runs the peers from the installed package where their runtimes exist', function () {
    const peers = path.join(app, 'node_modules', 'dtrain', 'bench', 'peers');
    for (const f of ['mpi_allreduce.c', 'gloo_allreduce.py', 'torch_ddp.py', 'tfjs_train.js']) expect(fs.existsSync(path.join(peers, f)), f).to.equal(true);
    // The peers' runtimes live on the ordinary PATH, not the compiler-free one.
    const full = { ...process.env, XDG_CACHE_HOME: env.XDG_CACHE_HOME, FASHION_MNIST_DIR: slice.FASHION_MNIST_DIR };
    const skipped = [];
    if (has('mpicc') && has('mpirun')) {
      const lines = jsonLines(dtrain('bench allreduce', ['bench', 'allreduce', '-np', '2', '--max-bytes', '4KiB', '--mpi'], { env: full }).stdout);
      expect(lines.find((l) => l.impl === 'mpi')).to.include({ np: 2, bytes: 4096, ok: true });
      expect(lines.find((l) => l.compare === 'dtrain/mpi')).to.have.property('time_ratio');
      expect(fs.readdirSync(path.join(env.XDG_CACHE_HOME, 'dtrain')).some((f) => f.startsWith('mpi_allreduce-'))).to.equal(true);
    } else skipped.push('mpi (no mpicc/mpirun: apt-get install openmpi-bin libopenmpi-dev)');
    if (torchPython) {
      const lines = jsonLines(dtrain('bench allreduce', ['bench', 'allreduce', '-np', '2', '--max-bytes', '4KiB', '--gloo', '--python', torchPython], { env: full }).stdout);
      expect(lines.find((l) => l.impl === 'gloo')).to.include({ np: 2, bytes: 4096, ok: true });
      const args = ['bench', 'train', '--np', '1', '--batches', '32', '--steps', '3', '--warmup', '1', '--python', torchPython, '--no-tfjs', '--json'];
      const train = jsonLines(dtrain('bench train', args, { env: full }).stdout);
      const ddp = train.find((l) => l.impl === 'torch-ddp-gloo');
      expect(ddp).to.include({ kind: 'train', np: 1, batch_per_worker: 32, steps: 3 });
      expect(ddp.samples_per_s).to.be.above(0);
    } else skipped.push('gloo and torch DDP (no python3 imports torch: apt-get install python3-torch)');
    let tfjs = false;
    try {
      require.resolve('@tensorflow/tfjs', { paths: [app] });
      tfjs = true;
    } catch {
      skipped.push('tfjs (@tensorflow/tfjs is not installed in the app; it is not a dependency of dtrain)');
    }
    if (tfjs) {
      const train = jsonLines(dtrain('bench train', ['bench', 'train', '--np', '1', '--batches', '32', '--steps', '2', '--warmup', '1', '--no-torch', '--json'], { env: full }).stdout);
      expect(train.find((l) => l.impl === 'tfjs-cpu')).to.include({ np: 1, batch_per_worker: 32 });
    }
    if (skipped.length > 0) console.log(`      (peers not run: ${skipped.join('; ')})`);
  });

  it('ran every command the README documents', function () {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const documented = new Set([...readme.matchAll(/`(?:npx )?dtrain (run|info|bench \w+|simulate)( --calibrate| --train)?\b/g)].map((m) => m[1] + (m[2] ?? '')));
    expect([...documented]).to.include.members(['run', 'info', 'bench allreduce', 'bench allreduce --calibrate', 'bench gemm', 'bench kernels', 'bench train', 'simulate', 'simulate --train']);
    expect([...documented].filter((c) => !ran.has(c))).to.deep.equal([]);
  });
});
