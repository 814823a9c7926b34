'use strict';
// The loader (lib/native.ts) tells the usual reasons an addon does not load apart, each with
// its fix: an unsupported platform or CPU, no build at all, a binary for another system or
// Node.js, a missing library, and a build of another dtrain version.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { expect } = require('chai');
const { ROOT } = require('./helpers');
const { explainLoadFailure, ABI_VERSION, loadBinding } = require('../dist/native');

describe('loading the native addon', function () {
  const root = '/pkg';
  const explain = (message, platform = 'linux', arch = 'x64') =>
    explainLoadFailure(Object.assign(new Error(message), { code: 'ERR_DLOPEN_FAILED' }), root, platform, arch);

  it('names the cause and the fix for each way loading fails', function () {
    expect(explain('anything', 'darwin', 'arm64')).to.match(/runs on Linux only.*darwin-arm64/);
    const none = 'No native build was found for platform=linux arch=arm64 runtime=node abi=115\n    loaded from: /pkg\n';
    expect(explain(none, 'linux', 'arm64')).to.match(/prebuilt binaries are for linux-x64 and this CPU is arm64: build it from source/);
    expect(explain(none.replace('arm64', 'x64'))).to.match(/it is not built: there is no \/pkg\/build\/Release\/dtrain.node .*npm rebuild dtrain/);
    expect(explain('/pkg/dtrain.node: wrong ELF class: ELFCLASS32')).to.match(/for another platform or CPU/);
    expect(explain("/lib/x86_64-linux-gnu/libstdc++.so.6: version `GLIBCXX_3.4.32' not found")).to.match(/newer C or C\+\+ runtime/);
    expect(explain('/pkg/dtrain.node: undefined symbol: napi_create_buffer_copy')).to.match(/does not match this Node\.js/);
    expect(explain('libfoo.so.1: cannot open shared object file: No such file or directory')).to.match(/a library it links against is missing/);
  });

  it('a package without a build says so in `dtrain info`, with the fix', function () {
    const pkg = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-nobuild-'));
    try {
      for (const dir of ['dist', 'bin']) fs.cpSync(path.join(ROOT, dir), path.join(pkg, dir), { recursive: true });
      fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
      const r = spawnSync(process.execPath, [path.join(pkg, 'bin', 'dtrain.js'), 'info'], { encoding: 'utf8' });
      expect(r.status).to.equal(1);
      expect(JSON.parse(r.stdout).native.error).to.match(/could not load the native addon: it is not built: .*npm rebuild dtrain/);
    } finally {
      fs.rmSync(pkg, { recursive: true, force: true });
    }
  });

  it('the addon this package built is the version this code expects', function () {
    expect(loadBinding().registry.abiVersion).to.equal(ABI_VERSION);
  });
});
