'use strict';
// `dtrain bench allreduce` as a user types it: the CLI's one size parser, every option checked
// before a worker starts, usage errors as one line without a stack, and the peers of
// bench/peers/ found, built and run by the CLI itself.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { expect } = require('chai');
const { ROOT } = require('./helpers');
const { parseBytes } = require('../dist/cli/values');

const CLI = path.join(ROOT, 'bin', 'dtrain.js');

function dtrain(args, env = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120000, env: { ...process.env, ...env } });
  const json = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json };
}

/** A usage error: exit 2, nothing on stdout, one line on stderr, no stack, no worker started. */
function expectUsageError(r, pattern) {
  expect(r.code, r.stderr).to.equal(2);
  expect(r.stdout).to.equal('');
  expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
  expect(r.stderr).to.match(/^dtrain: /);
  expect(r.stderr).to.match(pattern);
}

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const torchPython = ['/usr/bin/python3', 'python3'].find((py) => spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);

describe('the CLI size parser', function () {
  it('reads plain bytes, KiB/MiB/GiB as powers of 1024 and KB/MB/GB as powers of 1000', function () {
    const cases = {
      4096: 4096,
      '1000': 1000,
      '1KiB': 1024,
      '1MiB': 1048576,
      '1 MiB': 1048576,
      '256MiB': 268435456,
      '2GiB': 2147483648,
      '1KB': 1000,
      '1MB': 1000000,
      '1GB': 1e9,
      '1mib': 1048576,
      '1.5KiB': 1536,
      '1.1KB': 1100,
      '0.5MB': 500000,
      '7B': 7,
      '0': 0,
    };
    for (const [text, bytes] of Object.entries(cases)) expect(parseBytes(String(text)), text).to.equal(bytes);
  });

  it('refuses fractions of a byte, bare K/M/G, signs and words, with a message', function () {
    for (const text of ['0.5', '1.0001KB', '1K', '1M', '1G', '-4', '1e6', 'lots', '', '4 KiBs', '1.MiB']) {
      expect(() => parseBytes(text), text).to.throw(/byte|whole number|ambiguous/);
    }
    expect(() => parseBytes('1M')).to.throw(/say MiB or MB/);
    expect(() => parseBytes('9999999GiB')).to.throw(/too large/);
  });
});

describe('dtrain bench allreduce: options', function () {
  this.timeout(120000);

  it('--max-bytes below the default minimum times that one size', function () {
    const r = dtrain(['bench', 'allreduce', '--np', '2', '--max-bytes', '1000']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.json.map((l) => [l.bytes, l.ok])).to.deep.equal([[1000, true]]);
  });

  it('takes sizes with units, the same as simulate', function () {
    const r = dtrain(['bench', 'allreduce', '--np', '2', '--min-bytes', '256KiB', '--max-bytes', '1MiB']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.json.map((l) => l.bytes)).to.deep.equal([262144, 1048576]);
    expect(r.json.every((l) => l.ok)).to.equal(true);
    const mb = dtrain(['bench', 'allreduce', '--np', '2', '--max-bytes', '1KB']);
    expect(mb.json.map((l) => l.bytes)).to.deep.equal([1000]);
  });

  it('refuses a size that is not whole elements of the dtype, before any worker starts', function () {
    expectUsageError(dtrain(['bench', 'allreduce', '--np', '2', '--min-bytes', '6']), /--min-bytes 6 is not a whole number of float32 elements \(4 bytes each\)/);
    expectUsageError(dtrain(['bench', 'allreduce', '--np', '2', '--max-bytes', '4098']), /--max-bytes 4098 .*float32/);
    expectUsageError(dtrain(['bench', 'allreduce', '--np', '2', '--min-bytes', '0']), /at least one float32 element/);
    // Six bytes are three float16 elements.
    const half = dtrain(['bench', 'allreduce', '--np', '2', '--min-bytes', '6', '--max-bytes', '6', '--dtype', 'float16']);
    expect(half.code, half.stderr).to.equal(0);
    expect(half.json.map((l) => [l.bytes, l.ok])).to.deep.equal([[6, true]]);
  });

  it('refuses --min-bytes above --max-bytes, bad units and fractions', function () {
    expectUsageError(dtrain(['bench', 'allreduce', '--np', '2', '--min-bytes', '8KiB', '--max-bytes', '4KiB']), /--min-bytes 8192 is larger than --max-bytes 4096/);
    expectUsageError(dtrain(['bench', 'allreduce', '--np', '2', '--max-bytes', '1M']), /ambiguous: say MiB or MB/);
    expectUsageError(dtrain(['bench', 'allreduce', '--np', '2', '--max-bytes', '0.5']), /not a whole number of bytes/);
  });

  it('checks --algorithm against the registry before any worker starts', function () {
    const r = dtrain(['bench', 'allreduce', '--np', '2', '--algorithm', 'tree']);
    expectUsageError(r, /--algorithm: unknown all-reduce algorithm 'tree'; known: auto, ring/);
    const ok = dtrain(['bench', 'allreduce', '--np', '2', '--algorithm', 'hierarchical:ring', '--max-bytes', '4KiB']);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.json).to.have.length(1);
  });

  it('refuses options --calibrate would ignore', function () {
    expectUsageError(dtrain(['bench', 'allreduce', '--np', '2', '--calibrate', '--max-bytes', '4096']), /--calibrate takes only --np and --transport.*drop --max-bytes/);
    expectUsageError(dtrain(['bench', 'allreduce', '--np', '2', '--calibrate', '--algorithm', 'ring']), /drop --algorithm/);
    expectUsageError(dtrain(['bench', 'allreduce', '--np', '2', '--calibrate', '--plot', 'x.svg']), /drop --plot/);
  });

  it('--plot draws bus bandwidth against size as an SVG, one line per implementation', function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-plot-'));
    try {
      const file = path.join(dir, 'busbw.svg');
      const r = dtrain(['bench', 'allreduce', '--np', '2', '--min-bytes', '4KiB', '--max-bytes', '64KiB', '--mode', 'sync', '--plot', file]);
      expect(r.code, r.stderr).to.equal(0);
      const svg = fs.readFileSync(file, 'utf8');
      expect(svg).to.match(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      expect(svg.trim()).to.match(/<\/svg>$/);
      expect(svg).to.include('dtrain sync (auto, shm)');
      expect(svg).to.include('bus bandwidth (GB/s)');
      // One point per measured size: 4, 16 and 64 KiB.
      expect(r.json.filter((l) => l.impl === 'dtrain')).to.have.length(3);
      expect(r.stderr).to.include(`plot written to ${file}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--bound measures memcpy at each size and prints the bound (np-1)B/np and the fraction reached', function () {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-cache-'));
    try {
      const r = dtrain(['bench', 'allreduce', '--np', '2', '--min-bytes', '1MiB', '--max-bytes', '4MiB', '--mode', 'sync', '--bound'], { XDG_CACHE_HOME: cache });
      expect(r.code, r.stderr).to.equal(0);
      const bounds = r.json.filter((l) => l.compare === 'dtrain/bound');
      expect(bounds.map((b) => b.bytes)).to.deep.equal([1 << 20, 4 << 20]);
      for (const b of bounds) {
        expect(b.memcpy_GBs).to.be.above(1);
        expect(b.bound_busbw_GBs).to.be.closeTo(b.memcpy_GBs / 2, 0.01);
        const mine = r.json.find((l) => l.impl === 'dtrain' && l.bytes === b.bytes);
        expect(b.fraction).to.be.closeTo(mine.busbw_GBs / b.bound_busbw_GBs, 0.002);
      }
      expect(fs.readdirSync(path.join(cache, 'dtrain')).some((f) => f.startsWith('membw-'))).to.equal(true);
    } finally {
      fs.rmSync(cache, { recursive: true, force: true });
    }
  });

  it('a failing worker ends the command with one line and exit 1, not a stack of its own', function () {
    const r = dtrain(['bench', 'allreduce', '--np', '2', '--max-bytes', '4KiB'], { DTRAIN_SHM_CHANNEL_BYTES: 'abc' });
    expect(r.code).to.equal(1);
    const own = r.stderr.trim().split('\n').filter((l) => !/^\[\d+\] /.test(l));
    expect(own.filter((l) => /^\s+at /.test(l)), r.stderr).to.deep.equal([]);
    expect(own.pop()).to.equal('dtrain: the dtrain workers failed (exit code 1); the messages above say why');
  });
});

describe('dtrain bench allreduce: the peers in bench/peers/', function () {
  this.timeout(180000);
  let cache;
  before(function () {
    cache = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-peer-cache-'));
  });
  after(function () {
    if (cache) fs.rmSync(cache, { recursive: true, force: true });
  });

  it('says what to install when mpicc and mpirun are missing, before any worker starts', function () {
    const empty = path.join(cache, 'empty-bin');
    fs.mkdirSync(empty);
    const r = dtrain(['bench', 'allreduce', '--np', '2', '--max-bytes', '4KiB', '--mpi'], { PATH: empty });
    expect(r.code).to.equal(1);
    expect(r.stdout).to.equal('');
    expect(r.stderr.trim()).to.match(/^dtrain: --mpi needs mpicc and mpirun on PATH .*apt-get install openmpi-bin libopenmpi-dev/);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
  });

  it('says what to install when no python3 imports torch', function () {
    const r = dtrain(['bench', 'allreduce', '--np', '2', '--max-bytes', '4KiB', '--gloo', '--python', '/bin/false']);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.equal('');
    expect(r.stderr.trim()).to.equal('dtrain: --gloo needs a python3 that imports torch (tried /bin/false): apt-get install python3-torch, or say --python PATH');
  });

  it('--mpi builds mpi_allreduce.c once into the cache and prints its lines and the ratios', function () {
    if (!has('mpicc') || !has('mpirun')) {
      console.log('      (skipped: mpicc or mpirun is not installed: apt-get install openmpi-bin libopenmpi-dev)');
      this.skip();
    }
    const env = { XDG_CACHE_HOME: cache };
    const plot = path.join(cache, 'mpi.svg');
    const r = dtrain(['bench', 'allreduce', '--np', '2', '--min-bytes', '4KiB', '--max-bytes', '16KiB', '--mpi', '--plot', plot], env);
    expect(r.code, r.stderr).to.equal(0);
    expect(fs.readFileSync(plot, 'utf8')).to.include('dtrain async').and.include('>mpi<');
    const mpi = r.json.filter((l) => l.impl === 'mpi');
    expect(mpi.map((l) => l.bytes)).to.deep.equal([4096, 16384]);
    for (const l of mpi) {
      expect(l).to.have.all.keys('impl', 'np', 'bytes', 'time_us', 'algbw_GBs', 'busbw_GBs', 'ok');
      expect(l).to.include({ np: 2, ok: true });
      expect(l.busbw_GBs).to.be.closeTo(l.algbw_GBs, 0.002); // 2(p-1)/p = 1 at p = 2
    }
    const cmp = r.json.filter((l) => l.compare === 'dtrain/mpi');
    expect(cmp.map((l) => l.bytes)).to.deep.equal([4096, 16384]);
    const built = fs.readdirSync(path.join(cache, 'dtrain')).filter((f) => f.startsWith('mpi_allreduce-'));
    expect(built).to.have.length(1);
    const mtime = fs.statSync(path.join(cache, 'dtrain', built[0])).mtimeMs;
    const again = dtrain(['bench', 'allreduce', '--np', '2', '--max-bytes', '4KiB', '--mpi'], env);
    expect(again.code, again.stderr).to.equal(0);
    expect(fs.statSync(path.join(cache, 'dtrain', built[0])).mtimeMs).to.equal(mtime);
  });

  it('--gloo runs gloo_allreduce.py and prints its lines and the ratios', function () {
    if (!torchPython) {
      console.log('      (skipped: no python3 imports torch: apt-get install python3-torch)');
      this.skip();
    }
    const r = dtrain(['bench', 'allreduce', '--np', '2', '--max-bytes', '4KiB', '--gloo', '--python', torchPython]);
    expect(r.code, r.stderr).to.equal(0);
    const [gloo] = r.json.filter((l) => l.impl === 'gloo');
    expect(gloo).to.have.all.keys('impl', 'np', 'bytes', 'time_us', 'algbw_GBs', 'busbw_GBs', 'ok', 'torch');
    expect(gloo).to.include({ np: 2, bytes: 4096, ok: true });
    expect(r.json.filter((l) => l.compare === 'dtrain/gloo')).to.have.length(1);
  });
});
