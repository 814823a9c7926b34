'use strict';
// `dtrain info`: one JSON object, printed even when the native addon cannot be loaded (exit 1
// then). Uses the compiled dist/: run `npx tsc -p tsconfig.json` first.
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { expect } = require('chai');
const { collectInfo } = require('../dist/cli/info');
const pkg = require('../package.json');

describe('dtrain info', function () {
  it('prints one JSON object and exits 0 only if the native addon loaded', function () {
    const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'dtrain.js'), 'info'], {
      encoding: 'utf8',
    });
    const info = JSON.parse(r.stdout);
    expect(info).to.include({
      name: pkg.name,
      version: pkg.version,
      napiVersion: process.versions.napi,
      node: process.version,
    });
    if (info.native.loaded) {
      expect(r.status, r.stderr).to.equal(0);
      expect(info).to.have.property('simd').that.is.a('string');
      expect(info).to.have.property('transports').that.is.an('array');
    } else {
      expect(r.status).to.equal(1);
      expect(info.native.error).to.be.a('string').that.is.not.empty;
    }
  });

  it('merges the native capabilities into the top level', function () {
    const native = { simd: 'avx2', transports: ['shm', 'tcp'], cuda: { usable: false, reason: 'x' } };
    const info = collectInfo(() => native);
    expect(info).to.deep.include(native);
    expect(info.native).to.deep.equal({ loaded: true });
    expect(info.version).to.equal(pkg.version);
  });

  it('describes a native addon that fails to load instead of throwing', function () {
    const info = collectInfo(() => {
      throw new Error('no prebuild for this platform');
    });
    expect(info.native).to.deep.equal({ loaded: false, error: 'no prebuild for this platform' });
    expect(info.name).to.equal(pkg.name);
  });
});
