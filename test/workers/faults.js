'use strict';
// Fault scenarios, chosen by argv[2]. Each rank reports what it saw; the test judges.
const dtrain = require('../..');
const { report } = require('./report');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function errorInfo(err, t0) {
  return {
    code: err.code,
    message: err.message,
    rank: err.rank,
    ranks: err.ranks,
    ms: Date.now() - t0,
  };
}

async function expectFailure(fn) {
  const t0 = Date.now();
  try {
    await fn();
  } catch (err) {
    return errorInfo(err, t0);
  }
  return { code: null, ms: Date.now() - t0 };
}

const scenarios = {
  // Rank 1 passes a longer buffer; all ranks must fail, and the communicator stays usable.
  async 'mismatch-length'(rank) {
    const err = await expectFailure(() => dtrain.allreduce(new Float32Array(rank === 1 ? 11 : 10)));
    const after = await dtrain.allreduce(new Float32Array(4).fill(1));
    report({ ...err, after: after[0] });
  },
  // Rank 0 calls broadcast while the others call allreduce.
  async 'mismatch-kind'(rank) {
    const buf = new Float32Array(8);
    const err = await expectFailure(() => (rank === 0 ? dtrain.broadcast(buf, 0) : dtrain.allreduce(buf)));
    report(err);
  },
  // Same length, different element type and op.
  async 'mismatch-type'(rank) {
    const err = await expectFailure(() =>
      rank === 0 ? dtrain.allreduce(new Float64Array(8)) : dtrain.allreduce(new Float32Array(8), { op: 'max' }),
    );
    report(err);
  },
  // The same Uint16Array read as float16 on rank 0 and as bfloat16 elsewhere.
  async 'mismatch-half'(rank) {
    const err = await expectFailure(() =>
      dtrain.allreduce(new Uint16Array(8), { dtype: rank === 0 ? 'float16' : 'bfloat16' }),
    );
    report(err);
  },
  // The last rank SIGKILLs itself while large all-reduces are in flight.
  async kill(rank, size) {
    if (rank === size - 1) setTimeout(() => process.kill(process.pid, 'SIGKILL'), 300);
    const buf = new Float32Array(16 << 20);
    const t0 = Date.now();
    let done = 0;
    try {
      for (;;) {
        await dtrain.allreduce(buf);
        done++;
      }
    } catch (err) {
      const info = errorInfo(err, t0);
      // The communicator is now unusable, and says so at once.
      const later = await expectFailure(() => dtrain.allreduce(new Float32Array(4)));
      report({ ...info, done, laterCode: later.code, laterMs: later.ms });
    }
  },
  // Rank 0 names another root for a reduce; then a gather of another length.
  async 'mismatch-root'(rank) {
    const err = await expectFailure(() => dtrain.reduce(new Float32Array(8), rank === 0 ? 1 : 0));
    const err2 = await expectFailure(() => dtrain.gather(new Int32Array(rank === 1 ? 3 : 4), 0));
    const after = await dtrain.allreduce(new Float32Array(4).fill(1));
    report({ ...err, second: err2, after: after[0] });
  },
  // Rank 1 expects another tag than rank 0 sends; rank 2 waits for a message rank 0 never sends.
  async 'p2p-tag'(rank) {
    let err = { code: null };
    if (rank === 0) {
      await dtrain.send(Float32Array.of(1, 2), 1, { tag: 5 });
      await sleep(2500);
    }
    if (rank === 1) err = await expectFailure(() => dtrain.recv(new Float32Array(2), 0, { tag: 6 }));
    if (rank === 2) err = await expectFailure(() => dtrain.recv(new Float32Array(2), 0, { timeout: 1 }));
    report(err);
    process.exit(0);
  },
  // Rank 2's recvCounts disagree with what rank 0 sends it: every rank fails, before any data moves.
  async 'mismatch-splits'(rank, size) {
    const sendCounts = new Array(size).fill(1);
    const recvCounts = new Array(size).fill(1);
    if (rank === 2) recvCounts[0] = 2;
    const err = await expectFailure(() => dtrain.alltoall(new Float32Array(size), { sendCounts, recvCounts }));
    const after = await dtrain.alltoall(new Float32Array(size).fill(rank));
    report({ ...err, after: Array.from(after).join(',') });
  },
  // Rank 2 has joined; the others call a broadcast, which joined ranks cannot answer.
  async 'join-then-broadcast'(rank) {
    const err = await expectFailure(() => (rank === 2 ? dtrain.join({ timeout: 5 }) : dtrain.broadcast(new Float32Array(4), 0)));
    report(err);
  },
  // The last rank SIGKILLs itself while the others loop on one of the newer calls (argv[3]).
  async 'kill-in'(rank, size) {
    const what = process.argv[3];
    const n = 4 << 20;
    const last = size - 1;
    const calls = {
      reduce: () => dtrain.reduce(new Float32Array(n), 0),
      gather: () => dtrain.gather(new Float32Array(n >> 2), 0),
      scatter: () => dtrain.scatter(new Float32Array(n >> 2), 0, rank === 0 ? { send: new Float32Array((n >> 2) * size) } : {}),
      alltoall: () => dtrain.alltoall(new Float32Array((n >> 2) * size)),
      grouped: () => dtrain.groupedAllreduce([new Float32Array(n >> 1), new Float32Array(n >> 1)]),
      // A ring of messages: even ranks send first, odd ones receive first.
      sendrecv: async () => {
        const right = (rank + 1) % size;
        const left = (rank + size - 1) % size;
        const out = new Float32Array(n >> 2);
        const inn = new Float32Array(n >> 2);
        if (rank % 2 === 0) {
          await dtrain.send(out, right);
          await dtrain.recv(inn, left);
        } else {
          await dtrain.recv(inn, left);
          await dtrain.send(out, right);
        }
      },
      // The last rank joins at once; the others all-reduce, which it answers until it dies.
      join: () => (rank === last ? dtrain.join() : dtrain.allreduce(new Float32Array(n))),
    };
    if (rank === last) setTimeout(() => process.kill(process.pid, 'SIGKILL'), 400);
    const t0 = Date.now();
    let done = 0;
    try {
      for (;;) {
        await calls[what]();
        done++;
      }
    } catch (err) {
      report({ ...errorInfo(err, t0), done });
    }
  },
  // Rank 1 does not join for a while; the others' call times out naming it.
  async timeout(rank) {
    if (rank === 1) {
      await sleep(6000);
      report({ slept: true });
      process.exit(0);
    }
    const perCall = process.env.DTRAIN_TIMEOUT ? undefined : { timeout: 1 };
    report(await expectFailure(() => dtrain.allreduce(new Float32Array(100), perCall)));
    process.exit(0);
  },
  // Rank 0 connects to rank 1's TCP listener with a wrong token: refused, and logged by rank 1.
  async intruder(rank) {
    let reply = null;
    if (rank === 0) {
      const net = require('node:net');
      const { StoreClient } = require('../../dist/store/client');
      const store = await StoreClient.connect(process.env.DTRAIN_STORE, process.env.DTRAIN_TOKEN);
      const addr = (await store.get('c0/tcp-addr/1', 5000)).toString();
      await store.close();
      const [host, port] = addr.split(':');
      reply = await new Promise((resolve) => {
        const sock = net.connect({ host, port: Number(port) }, () => {
          sock.write(`DTRAIN1 ${'0'.repeat(64)} 2\n`);
        });
        let got = '';
        sock.on('data', (d) => (got += d));
        sock.on('error', () => {});
        sock.on('close', () => resolve(got));
      });
    }
    await dtrain.barrier();
    const ok = await dtrain.allreduce(Float64Array.of(1));
    report({ reply, after: ok[0] });
  },
  // Bad arguments fail before anything is sent; the next good call still works everywhere.
  async 'bad-args'(rank) {
    const errors = [];
    // Async calls reject (as Node's promise APIs do); sync ones throw.
    const tryCall = async (fn) => {
      try {
        await fn();
        errors.push(null);
      } catch (err) {
        errors.push({ name: err.constructor.name, message: err.message });
      }
    };
    await tryCall(() => dtrain.allreduce([1, 2, 3]));
    await tryCall(() => dtrain.allreduce(new Uint8ClampedArray(4)));
    await tryCall(() => dtrain.allreduce(new Float32Array(4), { op: 'bogus' }));
    await tryCall(() => dtrain.allreduce(new Float32Array(4), { algorithm: 'bogus' }));
    await tryCall(() => dtrain.allreduce(new Float32Array(4), { timeout: -1 }));
    await tryCall(() => dtrain.broadcast(new Float32Array(4), dtrain.size()));
    await tryCall(() => dtrain.broadcast(new Float32Array(4), 0.5));
    await tryCall(() => dtrain.allgather('x'));
    await tryCall(() => dtrain.barrier({ timeout: 'soon' }));
    await tryCall(() => dtrain.allreduceSync(new Float32Array(4), 'sum'));
    await tryCall(() => dtrain.allgatherSync(new Int16Array(2)));
    await tryCall(() => dtrain.allreduceSync(new Uint16Array(2)));
    await tryCall(() => dtrain.allreduce(new Float32Array(2), { dtype: 'float16' }));
    await tryCall(() => dtrain.reduceScatter(new Uint16Array(2), { dtype: 'int16' }));
    await tryCall(() => dtrain.broadcast(new Uint16Array(2), 0, { dtype: 'float32' }));
    const ok = await dtrain.allreduce(Float64Array.of(1));
    report({ errors, after: ok[0] });
  },
};

async function main() {
  const name = process.argv[2];
  if (!scenarios[name]) throw new Error(`unknown scenario ${name}`);
  await dtrain.init();
  await scenarios[name](dtrain.rank(), dtrain.size());
  if (name.startsWith('mismatch') || name === 'bad-args' || name === 'intruder') await dtrain.shutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
