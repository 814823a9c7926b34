#!/usr/bin/env node
'use strict';
// Builds the MPI plugin (build/mpi/libdtrain_mpi.so) against this machine's MPI with its C++
// compiler wrapper (mpicxx, mpic++ or mpiCC; MPI_CXX overrides), at install and in `npm run
// build`. Without MPI it says so and exits 0: the plugin is optional, and init() under mpirun
// explains how to get it. `--required` makes a missing MPI an error.
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const out = path.join(root, 'build', 'mpi', 'libdtrain_mpi.so');
const source = path.join(__dirname, 'dtrain_mpi.cc');
const required = process.argv.includes('--required');

function findCompiler() {
  const candidates = [process.env.MPI_CXX, 'mpicxx', 'mpic++', 'mpiCC'].filter(Boolean);
  for (const c of candidates) {
    const r = spawnSync(c, ['--version'], { stdio: 'ignore' });
    if (r.status === 0) return c;
  }
  return null;
}

const cxx = findCompiler();
if (!cxx) {
  const msg = 'dtrain: no MPI C++ compiler wrapper (mpicxx) found; the MPI plugin is not built (mpirun jobs need it: apt-get install libopenmpi-dev, then npm rebuild dtrain)';
  console.error(msg);
  process.exit(required ? 1 : 0);
}
fs.mkdirSync(path.dirname(out), { recursive: true });
const tmp = `${out}.tmp-${process.pid}`;
try {
  execFileSync(cxx, ['-std=c++17', '-O2', '-fPIC', '-shared', '-Wall', '-Wextra', `-I${path.join(root, 'native')}`, source, '-o', tmp], { stdio: 'inherit' });
  fs.renameSync(tmp, out);
  console.error(`dtrain: built the MPI plugin ${path.relative(root, out)} with ${cxx}`);
} catch (err) {
  fs.rmSync(tmp, { force: true });
  console.error(`dtrain: building the MPI plugin with ${cxx} failed (${err.message}); mpirun jobs will say how to retry (npm rebuild dtrain)`);
  process.exit(required ? 1 : 0);
}
