#!/usr/bin/env node
'use strict';
// Builds libdtrain_cuda.so, the CUDA kernels behind native/kernels/cuda/kernels_abi.h, with nvcc
// and CMake (build/cuda), at install and in `npm run build`. The addon loads it with dlopen only
// where a GPU is present, so it is optional: without nvcc, or where a prebuilt one ships in
// prebuilds/ (an install stays compiler-free), this says so and exits 0. `--prebuild` also
// copies it into prebuilds/<platform>-<arch>/ for the package; `--required` makes a failure an
// error. NVCC selects the compiler (default: nvcc on PATH, then /usr/local/cuda/bin/nvcc).
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const buildDir = path.join(root, 'build', 'cuda');
const out = path.join(buildDir, 'libdtrain_cuda.so');
const prebuilt = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'libdtrain_cuda.so');
const prebuild = process.argv.includes('--prebuild');
const required = process.argv.includes('--required');

function say(msg, failed) {
  console.error(`dtrain: ${msg}`);
  if (failed && required) process.exit(1);
}

function runs(cmd, args) {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

function findNvcc() {
  for (const c of [process.env.NVCC, 'nvcc', '/usr/local/cuda/bin/nvcc'].filter(Boolean)) {
    if (runs(c, ['--version'])) return c.includes('/') ? c : spawnSync('sh', ['-c', `command -v ${c}`]).stdout.toString().trim();
  }
  return null;
}

if (!prebuild && fs.existsSync(prebuilt)) {
  say(`the CUDA kernels ship prebuilt (${path.relative(root, prebuilt)}); nothing to build`);
  process.exit(0);
}
const nvcc = findNvcc();
if (!nvcc) {
  say('no nvcc found; the CUDA kernels (libdtrain_cuda.so) are not built. GPU collectives still run through NCCL; the GPU kernels need them: install the CUDA toolkit, then npm rebuild dtrain', true);
  process.exit(0);
}
if (!runs('cmake', ['--version'])) {
  say('nvcc is here but cmake is not; the CUDA kernels are not built (apt-get install cmake, then npm rebuild dtrain)', true);
  process.exit(0);
}
try {
  execFileSync('cmake', ['-S', root, '-B', buildDir, '-DCMAKE_BUILD_TYPE=Release', '-DDTRAIN_CUDA=ON', `-DCMAKE_CUDA_COMPILER=${nvcc}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync('cmake', ['--build', buildDir, '-j', String(Math.max(1, require('node:os').availableParallelism())), '--target', 'dtrain_cuda_shared'], { stdio: ['ignore', 'ignore', 'inherit'] });
  say(`built the CUDA kernels ${path.relative(root, out)} with ${nvcc}`);
  if (prebuild) {
    fs.mkdirSync(path.dirname(prebuilt), { recursive: true });
    fs.copyFileSync(out, prebuilt);
    say(`copied them to ${path.relative(root, prebuilt)}`);
  }
} catch (err) {
  say(`building the CUDA kernels with ${nvcc} failed (${err.message}); GPU kernels will say so (npm rebuild dtrain to retry)`, true);
}
