'use strict';
// dtrain run --hosts across two "hosts" made of network namespaces joined by a veth pair (each
// with an interface dt0), workers started through --launcher-cmd 'ip netns exec {host}': the
// store on dt0's address, tcp between hosts, ranks grouped by host (hierarchical), a worker
// killed on the second host. Needs root and iproute2; skipped, saying why, without them.
const { expect } = require('chai');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { spawnCollect, describeJob, ROOT } = require('./helpers');
const { elasticJob } = require('./elastic-jobs');

const CLI = path.join(ROOT, 'bin', 'dtrain.js');
const WORKER = path.join(__dirname, 'workers', 'multihost.js');
const A = `dtA${process.pid % 100000}`;
const B = `dtB${process.pid % 100000}`;

function sh(args) {
  const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr || r.error}`);
}

function run(ns, args, timeoutMs = 90000) {
  return spawnCollect('ip', ['netns', 'exec', ns, process.execPath, CLI, 'run', ...args], { timeoutMs });
}

describe('multi-host: dtrain run --hosts over two network namespaces', function () {
  this.timeout(120000);
  const hostsArgs = ['--hosts', `${A}:2,${B}:2`, '--launcher-cmd', 'ip netns exec {host}', '--network-interface', 'dt0'];

  before(function () {
    const why =
      process.getuid?.() !== 0
        ? 'not root'
        : spawnSync('ip', ['-V']).status !== 0
          ? 'no iproute2 (apt-get install iproute2)'
          : spawnSync('ip', ['netns', 'add', A]).status !== 0
            ? 'network namespaces are not allowed here'
            : null;
    if (why) {
      console.log(`      (skipped: ${why})`);
      this.skip();
    }
    sh(['ip', 'netns', 'add', B]);
    sh(['ip', 'link', 'add', `${A}v`, 'type', 'veth', 'peer', 'name', `${B}v`]);
    sh(['ip', 'link', 'set', `${A}v`, 'netns', A]);
    sh(['ip', 'link', 'set', `${B}v`, 'netns', B]);
    for (const [ns, dev, addr] of [[A, `${A}v`, '10.213.0.1/24'], [B, `${B}v`, '10.213.0.2/24']]) {
      sh(['ip', '-n', ns, 'link', 'set', dev, 'name', 'dt0']);
      sh(['ip', '-n', ns, 'addr', 'add', addr, 'dev', 'dt0']);
      sh(['ip', '-n', ns, 'link', 'set', 'dt0', 'up']);
      sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    }
  });

  after(function () {
    // Deleting a namespace removes its end of the veth pair, and so the pair.
    for (const ns of [A, B]) spawnSync('ip', ['netns', 'del', ns]);
  });

  it('4 workers on 2 hosts: the store on dt0, tcp between the hosts, ranks grouped by host, hierarchical exact', async function () {
    const r = await run(A, [...hostsArgs, WORKER]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/transport auto chose tcp: the ranks are on more than one host/);
    const byRank = r.results.sort((x, y) => x.rank - y.rank);
    expect(byRank.map((x) => x.host)).to.deep.equal([A, A, B, B]);
    expect(byRank.map((x) => [x.localRank, x.localSize])).to.deep.equal([[0, 2], [1, 2], [0, 2], [1, 2]]);
    for (const x of byRank) {
      expect(x.transport).to.equal('tcp');
      expect(x.sums).to.deep.equal({ hierarchical: true, ring: true, auto: true });
    }
  });

  it('a worker killed on the second host: the others fail naming it, and the launcher reports it', async function () {
    const r = await run(A, [...hostsArgs, WORKER, 'kill']);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.match(/rank 3 was killed by signal SIGKILL/);
    const others = r.results.filter((x) => x.rank !== 3);
    expect(others.length).to.be.at.least(1);
    for (const x of others) {
      expect(x.code).to.equal('ERR_DTRAIN_PEER_LOST');
      expect(x.lost).to.equal(3);
    }
  });

  it('--servers across hosts: workers then servers fill the slots, and pushes from both hosts sum exactly', async function () {
    const ps = path.join(__dirname, 'workers', 'ps.js');
    const r = await run(A, ['--hosts', `${A}:1,${B}:2`, '--servers', '1', '--launcher-cmd', 'ip netns exec {host}', '--network-interface', 'dt0', ps, 'atomic']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/transport auto chose tcp: the ranks are on more than one host/);
    // Two workers (ranks 0 on A, 1 on B), the server (rank 2) on B: 2 x 100 pushes of +1.
    expect(r.results).to.have.length(2);
    for (const x of r.results) {
      expect(x.small).to.deep.equal([200, 200, 200]);
      expect(x.big).to.deep.equal(new Array(10).fill(200));
    }
    const full = await run(A, ['-np', '3', '--hosts', `${A}:1,${B}:2`, '--servers', '1', WORKER]);
    expect(full.code).to.equal(2);
    expect(full.stderr).to.match(/-np 3 and --servers 1 need 4 slots; .* has 3/);
  });

  it('--elastic across hosts: a worker killed on the second host is replaced there, and the job ends at full size', async function () {
    const r = await elasticJob({
      prefix: ['ip', 'netns', 'exec', A],
      launcherArgs: ['--elastic', '--respawn', '--min-np', '2', '--max-np', '4', '-np', '4', ...hostsArgs],
      script: path.join(__dirname, 'workers', 'elastic.js'),
      args: ['loop', '150'],
      kills: [['w3', 400]],
      startedWhen: 'STARTED',
      env: { ELASTIC_STEP_MS: '15' },
    });
    expect(r.code, describeJob(r)).to.equal(0);
    expect(r.killedAt[0], 'w3 was found and killed').to.be.a('number');
    expect(r.stderr).to.match(new RegExp(`started worker w4 on ${B} \\(replacing a lost one\\)`));
    const finals = r.results;
    expect(finals.map((f) => f.id).sort()).to.deep.equal(['w0', 'w1', 'w2', 'w4']);
    for (const f of finals) {
      expect(f.size).to.equal(4);
      expect(f.counter[1], 'steps counted once each').to.equal(150);
      expect(f.counter).to.deep.equal(finals[0].counter);
    }
  });

  it('--elastic across hosts with a discovery script: a slot it reports on the second host grows the job there', async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-discover-'));
    const script = path.join(dir, 'discover.sh');
    fs.writeFileSync(script, `#!/bin/sh\necho ${A}:2\necho ${B}:3\n`, { mode: 0o755 });
    try {
      const r = await elasticJob({
        prefix: ['ip', 'netns', 'exec', A],
        launcherArgs: ['--elastic', '--min-np', '2', '--max-np', '5', '-np', '4', '--host-discovery-script', script, ...hostsArgs],
        script: path.join(__dirname, 'workers', 'elastic.js'),
        args: ['loop', '250'],
        startedWhen: 'STARTED',
        env: { ELASTIC_STEP_MS: '15' },
      });
      expect(r.code, describeJob(r)).to.equal(0);
      expect(r.stderr).to.match(new RegExp(`started worker w4 on ${B} \\(the discovery script reports 3 slot\\(s\\) on ${B}\\)`));
      expect(r.stderr).to.not.match(/started worker w5/);
      expect(r.results.map((f) => f.id).sort()).to.deep.equal(['w0', 'w1', 'w2', 'w3', 'w4']);
      for (const f of r.results) expect(f.size).to.equal(5);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a wrong interface or too few slots are usage errors that say what exists', async function () {
    const wrong = await run(A, ['--hosts', `${A}:2,${B}:2`, '--launcher-cmd', 'ip netns exec {host}', '--network-interface', 'nope0', WORKER]);
    expect(wrong.code).to.equal(2);
    expect(wrong.stderr).to.match(/no network interface 'nope0' with an address; it has .*dt0 \(10\.213\.0\.1/);
    const slots = await run(A, ['-np', '5', '--hosts', `${A}:2,${B}:2`, WORKER]);
    expect(slots.code).to.equal(2);
    expect(slots.stderr).to.match(/-np 5 is more than the 4 slot\(s\)/);
    const bad = await run(A, ['--hosts', `${A}:x`, WORKER]);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/--hosts: '.*:x' is not host or host:slots/);
  });
});
