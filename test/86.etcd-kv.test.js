'use strict';
// The elastic membership store (lib/elastic): EtcdKV against a real three-member etcd cluster,
// and the same behavioural checks against BuiltinKV over the launcher's store, so that both
// implementations of ElasticKV provably behave alike. Uses the compiled dist/: run
// `npx tsc -p tsconfig.json` first. The etcd half is skipped when etcd is not installed.
const { spawn } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');
const { expect } = require('chai');
const { EtcdKV } = require('../dist/elastic/etcd-kv');
const { BuiltinKV } = require('../dist/elastic/kv');
const { StoreServer } = require('../dist/store/server');
const { startEtcdCluster, etcdAvailable, freePorts } = require('./etcd-cluster');

const DIST = path.join(__dirname, '..', 'dist');
const ETCD = etcdAvailable();
/** Short, so that a dead owner's keys go quickly; keepalives run every third of it. */
const TTL_SEC = 1;

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 50 ms until it is true; resolves to the time that took, or throws at `ms`. */
async function waitUntil(check, ms, what) {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > ms) throw new Error(`${what} did not happen within ${ms} ms`);
    await delay(50);
  }
}

/** Whether `promise` rejects; resolves to the error (or undefined when it did not). */
async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  return undefined;
}

/**
 * A child process that connects with `connect` (source text of an async function of the loaded
 * modules returning an ElasticKV), puts `key` as ephemeral and then idles until it is killed.
 */
async function spawnOwner(connectSource, key) {
  const script = `
    const { EtcdKV } = require(${JSON.stringify(path.join(DIST, 'elastic', 'etcd-kv'))});
    const { BuiltinKV } = require(${JSON.stringify(path.join(DIST, 'elastic', 'kv'))});
    // Something must hold the process open: neither client does (BuiltinKV unrefs its socket,
    // EtcdKV its keepalive timer), and the owner is to live until it is killed.
    setInterval(() => {}, 1000);
    (async () => {
      const kv = await (${connectSource})();
      await kv.putEphemeral(${JSON.stringify(key)}, 'alive');
      process.stdout.write('READY\\n');
    })().catch((err) => { console.error(err); process.exit(1); });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      output += d;
      if (output.includes('READY')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`owner exited (${code}) before putting its key:\n${output}`)));
  });
  return {
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * The checks both implementations must pass. `ctx()` returns { connect(), ownerSource,
 * ephemeralHoldMs, ephemeralGoneMs } once the backing store runs.
 */
function behavesLikeElasticKV(ctx) {
  const opened = [];
  async function open() {
    const kv = await ctx().connect();
    opened.push(kv);
    return kv;
  }
  afterEach(async function () {
    await Promise.all(opened.splice(0).map((kv) => kv.close()));
  });

  it('puts, gets and deletes', async function () {
    const kv = await open();
    expect(await kv.get('pgd/a')).to.equal(undefined);
    await kv.put('pgd/a', 'hello wörld');
    expect(await kv.get('pgd/a')).to.equal('hello wörld');
    await kv.put('pgd/a', 'again');
    expect(await kv.get('pgd/a')).to.equal('again');
    await kv.delete('pgd/a');
    expect(await kv.get('pgd/a')).to.equal(undefined);
    // Deleting what is absent is no error.
    await kv.delete('pgd/a');
    expect(typeof kv.description).to.equal('string');
  });

  it('lets exactly one of 5 racing clients create a key', async function () {
    const clients = await Promise.all(Array.from({ length: 5 }, () => open()));
    for (let round = 0; round < 5; round++) {
      const key = `race/${round}`;
      const won = await Promise.all(clients.map((kv, i) => kv.createIfAbsent(key, `client ${i}`)));
      expect(won.filter(Boolean), `round ${round}: ${won}`).to.have.length(1);
      expect(await clients[0].get(key)).to.equal(`client ${won.indexOf(true)}`);
    }
    // A deleted key can be created again, once.
    await clients[0].delete('race/0');
    const again = await Promise.all(clients.map((kv) => kv.createIfAbsent('race/0', 'second')));
    expect(again.filter(Boolean)).to.have.length(1);
  });

  it('lists the keys under a prefix with the revision they were read at', async function () {
    const kv = await open();
    await kv.put('ls/a', '1');
    await kv.put('ls/b/c', '2');
    await kv.put('ls0', 'outside: the byte after "/"');
    await kv.put('l', 'outside: shorter');
    const first = await kv.list('ls/');
    expect([...first.entries]).to.deep.equal([
      ['ls/a', '1'],
      ['ls/b/c', '2'],
    ]);
    expect(first.revision).to.be.a('number').above(0);
    await kv.put('ls/a', '3');
    const second = await kv.list('ls/');
    expect(second.revision).to.be.above(first.revision);
    expect(second.entries.get('ls/a')).to.equal('3');
    expect((await kv.list('ls/none/')).entries.size).to.equal(0);
  });

  it('wakes a watch on a put under the prefix', async function () {
    const kv = await open();
    const other = await open();
    const { revision } = await kv.list('wp/');
    const started = Date.now();
    setTimeout(() => other.put('wp/x', '1'), 150);
    expect(await kv.watch('wp/', revision, 5000)).to.equal(true);
    expect(Date.now() - started).to.be.within(100, 2000);
  });

  it('wakes a watch on a delete under the prefix', async function () {
    const kv = await open();
    const other = await open();
    await kv.put('wd/x', '1');
    const { revision } = await kv.list('wd/');
    const started = Date.now();
    setTimeout(() => other.delete('wd/x'), 150);
    expect(await kv.watch('wd/', revision, 5000)).to.equal(true);
    expect(Date.now() - started).to.be.within(100, 2000);
  });

  it('times a watch out when nothing under the prefix changes', async function () {
    const kv = await open();
    const { revision } = await kv.list('wt/');
    const started = Date.now();
    setTimeout(() => kv.put('wt0', 'outside the prefix'), 50);
    expect(await kv.watch('wt/', revision, 400)).to.equal(false);
    expect(Date.now() - started).to.be.within(350, 2000);
  });

  it('does not miss a change made between list() and watch()', async function () {
    const kv = await open();
    const other = await open();
    const { revision } = await kv.list('wm/');
    await other.put('wm/x', '1');
    await other.delete('wm/x');
    const started = Date.now();
    expect(await kv.watch('wm/', revision, 5000)).to.equal(true);
    expect(Date.now() - started).to.be.below(1000);
    // From the revision after those changes, the watch waits again.
    const later = await kv.list('wm/');
    expect(await kv.watch('wm/', later.revision, 200)).to.equal(false);
  });

  it('drops an ephemeral key when its owner closes, and not before', async function () {
    const owner = await open();
    const reader = await open();
    await owner.putEphemeral('eph/closed', 'here');
    expect(await reader.get('eph/closed')).to.equal('here');
    await owner.close();
    await waitUntil(async () => (await reader.get('eph/closed')) === undefined, 1000, 'the key going');
  });

  it('keeps an ephemeral key while its owner lives and drops it soon after the owner is SIGKILLed', async function () {
    const reader = await open();
    const { ownerSource, ephemeralHoldMs, ephemeralGoneMs } = ctx();
    const owner = await spawnOwner(ownerSource, 'eph/killed');
    expect(await reader.get('eph/killed')).to.equal('alive');
    // Longer than the lease's TTL: only working keepalives keep the key.
    await delay(ephemeralHoldMs);
    expect(await reader.get('eph/killed')).to.equal('alive');
    const { revision } = await reader.list('eph/');
    const watched = reader.watch('eph/', revision, ephemeralGoneMs + 2000);
    await owner.kill();
    const took = await waitUntil(async () => (await reader.get('eph/killed')) === undefined, ephemeralGoneMs, 'the key going');
    expect(await watched, 'the watch sees the key go').to.equal(true);
    if (process.env.DTRAIN_TEST_VERBOSE) console.log(`      (gone ${took} ms after SIGKILL)`);
  });
}

describe('elastic KV: BuiltinKV over the launcher store', function () {
  let store;
  before(async function () {
    store = await StoreServer.start({ log: () => {} });
  });
  after(async function () {
    await store?.close();
  });

  behavesLikeElasticKV(() => ({
    connect: () => BuiltinKV.connect(store.address, store.token),
    ownerSource: `() => BuiltinKV.connect(${JSON.stringify(store.address)}, ${JSON.stringify(store.token)})`,
    // Tied to the connection: there is no TTL to outlive, and the key goes as the socket closes.
    ephemeralHoldMs: 300,
    ephemeralGoneMs: 1000,
  }));
});

describe('elastic KV: EtcdKV over a 3-member etcd cluster', function () {
  this.timeout(30000);
  let cluster;
  let errors;

  before(async function () {
    if (!ETCD) {
      console.log('      etcd is not installed: `apt-get install etcd-server` to run the EtcdKV tests');
      this.skip();
    }
    cluster = await startEtcdCluster({ members: 3 });
  });
  after(async function () {
    await cluster?.stop();
  });
  beforeEach(function () {
    errors = [];
  });

  const options = (extra = {}) => ({ leaseTtlSec: TTL_SEC, onError: (err) => errors.push(err), ...extra });

  behavesLikeElasticKV(() => ({
    connect: () => EtcdKV.connect(cluster.url, options()),
    ownerSource: `() => EtcdKV.connect(${JSON.stringify(cluster.url)}, { leaseTtlSec: ${TTL_SEC} })`,
    ephemeralHoldMs: 2500 * TTL_SEC,
    // The lease runs out a TTL after the last keepalive; the leader checks expiry every 500 ms.
    ephemeralGoneMs: 2000 * TTL_SEC + 1000,
  }));

  describe('etcd specifics', function () {
    const opened = [];
    async function open(url = cluster.url, extra = {}) {
      const kv = await EtcdKV.connect(url, options(extra));
      opened.push(kv);
      return kv;
    }
    afterEach(async function () {
      await Promise.all(opened.splice(0).map((kv) => kv.close()));
      expect(errors.map((e) => e.message)).to.deep.equal([]);
    });

    it('keeps namespaces apart', async function () {
      const a = await open(cluster.url, { namespace: 'jobA/' });
      const b = await open(cluster.url, { namespace: 'jobB/' });
      const raw = await open();
      await a.put('members/w0', 'a0');
      await b.put('members/w0', 'b0');
      await b.put('members/w1', 'b1');
      expect(await a.get('members/w0')).to.equal('a0');
      expect(await b.get('members/w0')).to.equal('b0');
      expect(await a.get('members/w1')).to.equal(undefined);
      expect([...(await a.list('members/')).entries]).to.deep.equal([['members/w0', 'a0']]);
      expect([...(await b.list('')).entries]).to.deep.equal([
        ['members/w0', 'b0'],
        ['members/w1', 'b1'],
      ]);
      expect((await raw.list('job')).entries.get('jobA/members/w0')).to.equal('a0');
      // The same key can be created once per namespace.
      expect(await a.createIfAbsent('leader', 'a')).to.equal(true);
      expect(await b.createIfAbsent('leader', 'b')).to.equal(true);
      // A change in one namespace does not wake a watch in the other.
      const { revision } = await a.list('members/');
      setTimeout(() => b.put('members/w2', 'b2'), 50);
      expect(await a.watch('members/', revision, 400)).to.equal(false);
      expect(a.description).to.include('jobA/');
    });

    it('puts the ephemeral keys back under a new lease when the old one expired regardless', async function () {
      const kv = await open();
      const reader = await open();
      await kv.putEphemeral('regrant/a', '1');
      await kv.putEphemeral('regrant/b', '2');
      await kv.put('regrant/b', 'plain now');
      // As if the keepalives had been cut off for longer than the TTL: the cluster drops the lease.
      const res = await fetch(`http://${cluster.endpoints[0]}/v3/lease/revoke`, { method: 'POST', body: JSON.stringify({ ID: kv.lease }) });
      expect(res.ok).to.equal(true);
      expect(await reader.get('regrant/a')).to.equal(undefined);
      await waitUntil(async () => (await reader.get('regrant/a')) === '1', 3000, 'the key coming back');
      expect(await reader.get('regrant/b')).to.equal('plain now');
      expect(errors.map((e) => e.message)).to.have.length(1);
      expect(errors[0].message).to.match(/expired before its keepalive got through; 1 ephemeral key\(s\) put again/);
      errors.length = 0;
    });

    it('fails to connect naming every endpoint and why, within connectTimeoutMs', async function () {
      const [refusing] = await freePorts(1);
      // A member that accepts connections but never answers, like a hung process.
      const silent = net.createServer(() => {});
      await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const sockets = new Set();
      silent.on('connection', (s) => sockets.add(s));
      const silentPort = silent.address().port;
      try {
        const started = Date.now();
        const err = await rejection(
          EtcdKV.connect(`etcd://127.0.0.1:${refusing},http://127.0.0.1:${silentPort}`, { connectTimeoutMs: 1500 }),
        );
        const took = Date.now() - started;
        expect(err, 'connect should fail').to.be.an('error');
        expect(err.code).to.equal('ERR_DTRAIN_BOOTSTRAP');
        expect(err.message).to.match(/^etcd: no endpoint answered/);
        expect(err.message).to.include(`127.0.0.1:${refusing}: connect ECONNREFUSED`);
        expect(err.message).to.match(new RegExp(`127\\.0\\.0\\.1:${silentPort}: no answer within \\d+ ms`));
        expect(took).to.be.within(1000, 3000);
      } finally {
        for (const s of sockets) s.destroy();
        await new Promise((resolve) => silent.close(resolve));
      }
      expect((await rejection(EtcdKV.connect('etcd://'))).name).to.equal('RangeError');
      expect((await rejection(EtcdKV.connect('etcd://host:99999'))).message).to.match(/bad endpoint 'host:99999'/);
      expect((await rejection(EtcdKV.connect('etcd://a:1,,b:2'))).name).to.equal('RangeError');
    });
  });

  describe('after losing a member', function () {
    // Its own cluster: this one ends with a member down.
    let lossy;
    const opened = [];
    before(async function () {
      lossy = await startEtcdCluster({ members: 3 });
    });
    after(async function () {
      await Promise.all(opened.splice(0).map((kv) => kv.close()));
      await lossy?.stop();
    });

    it('still does every operation when the member it last used (the leader) is SIGKILLed', async function () {
      // Put the leader first in the URL, so that it is the member the clients use.
      const statuses = await Promise.all(
        lossy.endpoints.map(async (e) => (await fetch(`http://${e}/v3/maintenance/status`, { method: 'POST', body: '{}' })).json()),
      );
      const leader = statuses.findIndex((s) => s.leader === s.header.member_id);
      expect(leader).to.be.at.least(0);
      const order = [leader, ...[0, 1, 2].filter((i) => i !== leader)];
      const url = `etcd://${order.map((i) => lossy.endpoints[i]).join(',')}`;
      const kv = await EtcdKV.connect(url, options());
      const other = await EtcdKV.connect(url, options());
      opened.push(kv, other);
      await kv.putEphemeral('loss/alive', 'kv');
      await kv.put('loss/before', '1');
      const { revision } = await kv.list('loss/');

      await lossy.kill(leader);

      // A watch opened before the loss and one opened after both see a later change.
      const watching = other.watch('loss/', revision, 10000);
      const started = Date.now();
      await kv.put('loss/after', '2');
      const firstOpMs = Date.now() - started;
      expect(await watching).to.equal(true);
      expect(await kv.get('loss/before')).to.equal('1');
      expect(await other.get('loss/after')).to.equal('2');
      const created = await Promise.all([kv.createIfAbsent('loss/c', 'kv'), other.createIfAbsent('loss/c', 'other')]);
      expect(created.filter(Boolean)).to.have.length(1);
      await kv.delete('loss/before');
      const listed = await other.list('loss/');
      expect([...listed.entries.keys()]).to.deep.equal(['loss/after', 'loss/alive', 'loss/c']);
      setTimeout(() => kv.put('loss/later', '3'), 100);
      expect(await other.watch('loss/', listed.revision, 5000)).to.equal(true);
      // The keepalives found the surviving members: the lease outlives its TTL.
      await delay(2500 * TTL_SEC);
      expect(await other.get('loss/alive')).to.equal('kv');
      await kv.putEphemeral('loss/alive2', 'kv');
      // Connecting now (the dead member first in the list) works too.
      const late = await EtcdKV.connect(url, options());
      opened.push(late);
      expect(await late.get('loss/after')).to.equal('2');
      expect(firstOpMs, 'failover of the first request').to.be.below(6000);
      if (process.env.DTRAIN_TEST_VERBOSE) console.log(`      (first request after the loss took ${firstOpMs} ms)`);
      // An election can outlast a 1 s TTL's keepalive round; such rounds are reported and retried,
      // and the new leader extends the lease. Nothing else may have gone wrong.
      for (const e of errors) expect(e.message).to.match(/^etcd: no endpoint answered a lease keepalive /);
    });

    it('reports, without crashing, keepalives that reach no member, and fails operations naming them', async function () {
      const kv = await EtcdKV.connect(lossy.url, options({ operationTimeoutMs: 1000 }));
      opened.push(kv);
      await kv.putEphemeral('dead/alive', 'kv');
      const { revision } = await kv.list('dead/');
      await Promise.all([0, 1, 2].map((i) => lossy.kill(i)));
      const names = lossy.endpoints.map((e) => e.replace(/\./g, '\\.')).join('.*');
      const err = await rejection(kv.get('dead/alive'));
      expect(err, 'get with every member down').to.be.an('error');
      expect(err.code).to.equal('ERR_DTRAIN_BOOTSTRAP');
      expect(err.message).to.match(new RegExp(`^etcd: no endpoint answered a get of dead/alive \\(${names}`));
      const watchErr = await rejection(kv.watch('dead/', revision, 1500));
      expect(watchErr, 'watch with every member down').to.be.an('error');
      expect(watchErr.message).to.match(new RegExp(`no endpoint answered a watch of dead/ \\(${names}`));
      await waitUntil(() => errors.some((e) => /no endpoint answered a lease keepalive/.test(e.message)), 3000, 'a keepalive error');
      errors.length = 0;
    });
  });
});
