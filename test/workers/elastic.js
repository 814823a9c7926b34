'use strict';
// Elastic-training scenarios for test/85.elastic.test.js, through the real launcher.
//   recreate N     : init/allreduce/shutdown N times in one process; reports threads, fds and
//                    this job's shared-memory segments before and after
//   loop STEPS     : a custom loop with elastic.State and elastic.run; every step all-reduces
//                    the ones vector (so the sum counts the workers) and adds it to a counter
//                    parameter; a reset callback rescales the learning rate to size; reports
//                    per-step sizes, the lr seen and the final parameter
const fs = require('node:fs');
const dtrain = require('../..');
const { report } = require('./report');

const [, , scenario, arg] = process.argv;

function resources() {
  const fds = fs.readdirSync('/proc/self/fd');
  let sockets = 0;
  for (const fd of fds) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) sockets++;
    } catch {
      // closed between the listing and the readlink (the listing's own descriptor)
    }
  }
  return {
    threads: fs.readdirSync('/proc/self/task').length,
    fds: fds.length,
    sockets,
    // Segments are unlinked once every peer has mapped them; a leak is a mapping that stays.
    shmMaps: fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('/dev/shm/dtrain-')).length,
  };
}

async function recreate(n) {
  await dtrain.init();
  await dtrain.allreduce(new Float32Array(1 << 16));
  await dtrain.shutdown();
  await new Promise((r) => setTimeout(r, 200));
  const before = resources();
  let during;
  for (let i = 0; i < n; i++) {
    await dtrain.init();
    await dtrain.allreduce(new Float32Array(1 << 16));
    during ??= resources();
    await dtrain.shutdown();
  }
  // Threads end asynchronously after shutdown resolves; give them a moment.
  await new Promise((r) => setTimeout(r, 200));
  report({ before, during, after: resources() });
}

async function loop(steps) {
  await dtrain.init();
  console.log('STARTED');
  const { elastic } = dtrain;
  const counter = { name: 'counter', data: new Float32Array(4), grad: new Float32Array(4) };
  const state = new elastic.State({ params: [counter], extra: { sizes: [], lrs: [] } });
  let lr = 1;
  const resets = [];
  state.onReset((info) => {
    lr = info.size; // the rescaling a user would do (here: lr = workers, to see it took effect)
    resets.push(info);
  });
  const delayMs = Number(process.env.ELASTIC_STEP_MS || 20);
  await elastic.run(state, async (st) => {
    while (st.batch < steps) {
      const ones = new Float32Array(4).fill(1);
      await dtrain.allreduce(ones, { op: 'sum' });
      counter.data[0] += ones[0]; // workers in this step
      counter.data[1] += 1; // steps
      st.extra.sizes.push(ones[0]);
      st.extra.lrs.push(lr);
      await new Promise((r) => setTimeout(r, delayMs));
      st.batch++; // the counters say where to resume: advanced before the commit
      await st.commit();
    }
  });
  const m = elastic.membership();
  report({ id: m.id, generation: m.generation, rank: dtrain.rank(), size: dtrain.size(), counter: Array.from(counter.data), sizes: state.extra.sizes, lrs: state.extra.lrs, resets, stats: elastic.recoveryStats() });
  await dtrain.shutdown();
}

const scenarios = { recreate: () => recreate(Number(arg || 50)), loop: () => loop(Number(arg || 100)) };
scenarios[scenario]().catch((err) => {
  report({ error: err && err.code, message: err && err.message });
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
