'use strict';
// Rendezvous store (docs/store-protocol.md): the TypeScript client against the server, plus raw
// sockets for the parts a well-behaved client never exercises (bad tokens, split and merged
// packets, malformed requests). Uses the compiled dist/: run `npx tsc -p tsconfig.json` first.
const net = require('node:net');
const { expect } = require('chai');
const { StoreServer } = require('../dist/store/server');
const { StoreClient } = require('../dist/store/client');

const TOKEN = 'ab'.repeat(32);

/** A raw connection that collects everything the server sends until it hangs up. */
function rawConnect(address) {
  const [host, port] = address.split(':');
  const socket = net.connect({ host, port: Number(port) });
  const received = [];
  let onData = () => {};
  socket.on('data', (chunk) => {
    received.push(chunk);
    onData();
  });
  const ended = new Promise((resolve) => socket.on('close', resolve));
  socket.on('error', () => {});
  return {
    socket,
    text: () => Buffer.concat(received).toString('latin1'),
    bytes: () => Buffer.concat(received),
    ended,
    /** Resolves once at least `n` bytes have arrived. */
    waitFor(n) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (Buffer.concat(received).length >= n) resolve(Buffer.concat(received));
        };
        onData = check;
        socket.on('close', () => reject(new Error(`closed after ${this.text()}`)));
        check();
      });
    },
  };
}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

describe('store server', function () {
  let store;
  let logs;
  const clients = [];

  beforeEach(async function () {
    logs = [];
    store = await StoreServer.start({ token: TOKEN, log: (m) => logs.push(m), authTimeoutMs: 300 });
  });

  afterEach(async function () {
    for (const c of clients.splice(0)) await c.close();
    await store.close();
  });

  async function client() {
    const c = await StoreClient.connect(store.address, TOKEN);
    clients.push(c);
    return c;
  }

  it('listens on 127.0.0.1 with an ephemeral port and exposes the token', function () {
    expect(store.address).to.match(/^127\.0\.0\.1:\d+$/);
    expect(store.token).to.equal(TOKEN);
  });

  it('generates a 64-hex-character token when none is given', async function () {
    const s = await StoreServer.start({ log: () => {} });
    try {
      expect(s.token).to.match(/^[0-9a-f]{64}$/);
    } finally {
      await s.close();
    }
  });

  it('sets, gets and adds', async function () {
    const c = await client();
    await c.set('a', 'hello');
    expect((await c.get('a', 0)).toString()).to.equal('hello');
    expect(await c.add('n', 5)).to.equal(5);
    expect(await c.add('n', -2)).to.equal(3);
    // Counters live in the same table as decimal text.
    expect((await c.get('n', 0)).toString()).to.equal('3');
    await c.set('a', 'overwritten');
    expect((await c.get('a', 0)).toString()).to.equal('overwritten');
  });

  it('compare-and-set: create-if-absent has one winner, a swap needs the exact current value', async function () {
    const cs = await Promise.all([client(), client(), client(), client()]);
    const won = await Promise.all(cs.map((c, i) => c.compareAndSet('m', null, `by ${i}`)));
    expect(won.filter(Boolean)).to.have.length(1);
    const c = cs[0];
    const current = (await c.get('m', 0)).toString();
    expect(await c.compareAndSet('m', 'by nobody', 'x')).to.equal(false);
    expect(await c.compareAndSet('m', current, 'swapped\n\0')).to.equal(true);
    expect((await c.get('m', 0)).toString()).to.equal('swapped\n\0');
    expect(await c.delete('m')).to.equal(true);
    expect(await c.delete('m')).to.equal(false);
    expect(await c.compareAndSet('m', null, 'again')).to.equal(true);
  });

  it('an ephemeral key lives as long as the connection that set it; LIST reads a prefix with the revision', async function () {
    const owner = await StoreClient.connect(store.address, TOKEN);
    const c = await client();
    await owner.setEphemeral('alive/a', 'A');
    await c.set('alive/b', 'B');
    await c.set('other', 'x');
    const before = await c.list('alive/');
    expect([...before.entries].map(([k, v]) => [k, v.toString()])).to.deep.equal([['alive/a', 'A'], ['alive/b', 'B']]);
    const woke = c.watch('alive/', before.revision, 5000);
    await owner.close();
    expect(await woke).to.be.above(before.revision);
    expect([...(await c.list('alive/')).entries.keys()]).to.deep.equal(['alive/b']);
  });

  it('WATCH answers at once for a change after the given revision, waits for the next otherwise, and times out', async function () {
    const c = await client();
    const w = await client();
    const { revision } = await c.list('p/');
    await c.set('p/x', '1'); // between the read and the watch: must not be missed
    expect(await w.watch('p/', revision, 5000)).to.be.above(revision);
    const now = (await c.list('p/')).revision;
    const later = w.watch('p/', now, 5000);
    await c.set('q/y', 'elsewhere');
    await c.delete('p/x');
    expect(await later).to.be.above(now);
    expect(await w.watch('p/', (await c.list('p/')).revision, 50)).to.equal(null);
  });

  it('releases a blocking GET when another client sets the key', async function () {
    const waiter = await client();
    const setter = await client();
    const started = Date.now();
    const pending = waiter.get('late', 5000);
    await delay(100);
    await setter.set('late', 'now');
    expect((await pending).toString()).to.equal('now');
    expect(Date.now() - started).to.be.below(2000);
  });

  it('releases a blocking GET when a counter is added', async function () {
    const waiter = await client();
    const pending = waiter.get('count', 5000);
    await (await client()).add('count', 7);
    expect((await pending).toString()).to.equal('7');
  });

  it('answers TIMEOUT when the key is not set in time', async function () {
    const c = await client();
    const started = Date.now();
    let err;
    try {
      await c.get('never', 150);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.an('error');
    expect(err.code).to.equal('ETIMEDOUT');
    expect(Date.now() - started).to.be.within(140, 2000);
    // The connection stays usable after a timeout.
    await c.set('x', '1');
    expect((await c.get('x', 0)).toString()).to.equal('1');
  });

  it('keeps binary values intact: newlines, zero bytes, every byte value', async function () {
    const c = await client();
    const value = Buffer.concat([
      Buffer.from('line1\nline2\n\0\0GET x 5\n'),
      Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
    ]);
    await c.set('bin', value);
    expect((await c.get('bin', 0)).equals(value)).to.equal(true);
    await c.set('empty', Buffer.alloc(0));
    expect((await c.get('empty', 0)).length).to.equal(0);
  });

  it('keeps a 4 MiB value intact', async function () {
    const c = await client();
    const value = Buffer.alloc(4 << 20);
    for (let i = 0; i < value.length; i += 4096) value[i] = i & 0xff;
    await c.set('big', value);
    expect((await c.get('big', 0)).equals(value)).to.equal(true);
  });

  it('answers pipelined requests sent in one write, in order', async function () {
    const raw = rawConnect(store.address);
    raw.socket.write(
      `AUTH ${TOKEN}\nSET k 3\na\nbADD c 2\nGET k 0\nGET missing 0\nADD c 40\nGET c 0\n`,
    );
    const expected = 'OK\nOK\nNUM 2\nVAL 3\na\nbTIMEOUT\nNUM 42\nVAL 2\n42';
    await raw.waitFor(expected.length);
    expect(raw.text()).to.equal(expected);
    raw.socket.destroy();
  });

  it('parses requests split into single-byte writes', async function () {
    const raw = rawConnect(store.address);
    const request = Buffer.from(`AUTH ${TOKEN}\nSET k 4\n\n\0\n\0GET k 0\n`, 'latin1');
    for (const byte of request) {
      raw.socket.write(Buffer.from([byte]));
      await delay(1);
    }
    const expected = Buffer.from('OK\nOK\nVAL 4\n\n\0\n\0', 'latin1');
    expect((await raw.waitFor(expected.length)).equals(expected)).to.equal(true);
    raw.socket.destroy();
  });

  it('keeps replies in request order behind a waiting GET', async function () {
    const raw = rawConnect(store.address);
    raw.socket.write(`AUTH ${TOKEN}\nGET slow 5000\nADD n 1\n`);
    await delay(100);
    expect(raw.text()).to.equal('OK\n');
    await (await client()).set('slow', 'done');
    const expected = 'OK\nVAL 4\ndoneNUM 1\n';
    await raw.waitFor(expected.length);
    expect(raw.text()).to.equal(expected);
    raw.socket.destroy();
  });

  it('refuses a wrong token with ERR bad token, closes, and logs the refusal', async function () {
    const raw = rawConnect(store.address);
    raw.socket.write(`AUTH ${'cd'.repeat(32)}\nSET k 1\nx`);
    await raw.ended;
    expect(raw.text()).to.equal('ERR bad token\n');
    expect(logs).to.have.lengthOf(1);
    expect(logs[0]).to.match(/^dtrain store: refused connection from 127\.0\.0\.1:\d+: bad token$/);
    // The refused connection must not have written anything.
    const c = await client();
    let err;
    await c.get('k', 0).catch((e) => (err = e));
    expect(err && err.code).to.equal('ETIMEDOUT');
  });

  it('refuses a token of the wrong length', async function () {
    const raw = rawConnect(store.address);
    raw.socket.write(`AUTH ${TOKEN}0\n`);
    await raw.ended;
    expect(raw.text()).to.equal('ERR bad token\n');
    expect(logs[0]).to.match(/bad token$/);
  });

  it('refuses a connection that sends a request before AUTH', async function () {
    const raw = rawConnect(store.address);
    raw.socket.write('SET k 1\nx');
    await raw.ended;
    expect(raw.text()).to.match(/^ERR .+\n$/);
    expect(logs).to.have.lengthOf(1);
    expect(logs[0]).to.match(/^dtrain store: refused connection from 127\.0\.0\.1:\d+: .*before AUTH/);
  });

  it('refuses a connection that does not authenticate before the deadline', async function () {
    const raw = rawConnect(store.address);
    raw.socket.write('AUTH ab'); // never finished
    await raw.ended;
    expect(raw.text()).to.match(/^ERR .+\n$/);
    expect(logs[0]).to.match(/^dtrain store: refused connection from .*: no AUTH within/);
  });

  it('refuses an endless AUTH line without buffering it', async function () {
    const raw = rawConnect(store.address);
    raw.socket.write('AUTH ' + 'a'.repeat(100000));
    await raw.ended;
    expect(raw.text()).to.match(/^ERR .+\n$/);
    expect(logs[0]).to.match(/AUTH line too long/);
  });

  for (const [name, request] of [
    ['an unknown verb', 'RENAME k\n'],
    ['a CAS with a bad expected length', 'CAS k x 1\n'],
    ['a WATCH without a timeout', 'WATCH k 0\n'],
    ['a key with no length', 'SET k\n'],
    ['a non-numeric length', 'SET k x\n'],
    ['an oversized length', `SET k ${2 ** 40}\n`],
    ['a non-numeric timeout', 'GET k soon\n'],
    ['a non-integer delta', 'ADD k 1.5\n'],
    ['an empty line', '\n'],
    ['an extra argument', 'GET k 1 2\n'],
  ]) {
    it(`answers ${name} with ERR and closes`, async function () {
      const raw = rawConnect(store.address);
      raw.socket.write(`AUTH ${TOKEN}\n${request}GET k 0\n`);
      await raw.ended;
      expect(raw.text()).to.match(/^OK\nERR [^\n]+\n$/);
    });
  }

  it('answers ADD on a non-integer value with ERR', async function () {
    const c = await client();
    await c.set('s', 'text');
    let err;
    await c.add('s', 1).catch((e) => (err = e));
    expect(err).to.be.an('error');
    expect(err.message).to.match(/not an integer/);
  });

  it('rejects a client whose token is wrong', async function () {
    let err;
    await StoreClient.connect(store.address, 'nope').catch((e) => (err = e));
    expect(err).to.be.an('error');
    expect(err.message).to.match(/bad token/);
  });

  it('abandons waiting GETs and drops connections on close', async function () {
    const c = await StoreClient.connect(store.address, TOKEN);
    const pending = c.get('never', 60000).then(
      () => 'resolved',
      (e) => e.message,
    );
    await delay(50);
    await store.close();
    expect(await pending).to.match(/closed/);
  });
});

describe('a store on a thread of its own (rank 0 under mpirun)', function () {
  it('answers while the thread that started it is blocked, as rank 0 is in a synchronous collective', async function () {
    const { startStoreThread } = require('../dist/store/thread');
    const { spawn } = require('node:child_process');
    const address = await startStoreThread({ host: '127.0.0.1', token: TOKEN });
    // Another process sets and reads a key; it starts after the block below has begun.
    const client = spawn(process.execPath, ['-e', `
      const { StoreClient } = require(${JSON.stringify(require.resolve('../dist/store/client'))});
      setTimeout(async () => {
        const t0 = Date.now();
        const c = await StoreClient.connect(${JSON.stringify(address)}, ${JSON.stringify(TOKEN)});
        await c.set('k', 'v');
        const v = (await c.get('k', 5000)).toString();
        console.log(JSON.stringify({ v, ms: Date.now() - t0, at: Date.now() }));
        process.exit(0);
      }, 300);`]);
    let out = '';
    client.stdout.on('data', (d) => (out += d));
    const done = new Promise((resolve) => client.on('exit', resolve));
    // Block this thread for 2.5 s, as a synchronous collective would.
    const blockedFrom = Date.now();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2500);
    const blockedUntil = Date.now();
    expect(await done).to.equal(0);
    const r = JSON.parse(out);
    expect(r.v).to.equal('v');
    // The client was served while this thread was still blocked.
    expect(r.at).to.be.below(blockedUntil);
    expect(r.at).to.be.above(blockedFrom);
  });
});
