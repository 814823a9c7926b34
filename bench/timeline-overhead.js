#!/usr/bin/env node
// The timeline's cost (docs/collectives.md): a loop of 1 MiB all-reduces (Promise API) on 2
// workers, with and without DTRAIN_TIMELINE, in interleaved rounds; prints the median time per
// call of each and the ratio.
//   node bench/timeline-overhead.js [--rounds 5] [--iters 2000] [--bytes 1048576]
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');

const ROOT = path.join(__dirname, '..');
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    iters: { type: 'string', default: '2000' },
    bytes: { type: 'string', default: '1048576' },
    worker: { type: 'boolean', default: false },
  },
});

if (values.worker) {
  const dtrain = require('..');
  (async () => {
    await dtrain.init();
    const buf = new Float32Array(Number(values.bytes) / 4);
    for (let i = 0; i < 50; i++) await dtrain.allreduce(buf);
    await dtrain.barrier();
    const t0 = process.hrtime.bigint();
    const n = Number(values.iters);
    for (let i = 0; i < n; i++) await dtrain.allreduce(buf);
    const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
    if (dtrain.rank() === 0) console.log(`RESULT ${us}`);
    await dtrain.shutdown();
  })().catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-tl-'));
  const times = { off: [], on: [] };
  let events = 0;
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const mode of ['off', 'on']) {
      const file = path.join(dir, `t${r}.json`);
      const args = [path.join(ROOT, 'bin', 'dtrain.js'), 'run', '-np', '2', ...(mode === 'on' ? ['--timeline', file] : []), __filename, '--worker', '--iters', values.iters, '--bytes', values.bytes];
      const out = spawnSync(process.execPath, args, { encoding: 'utf8' });
      const m = /RESULT ([\d.]+)/.exec(out.stdout);
      if (!m) throw new Error(`run failed:\n${out.stdout}\n${out.stderr}`);
      times[mode].push(Number(m[1]));
      if (mode === 'on') events = JSON.parse(fs.readFileSync(file, 'utf8')).length;
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const off = med(times.off);
  const on = med(times.on);
  console.log(JSON.stringify({ bytes: Number(values.bytes), iters: Number(values.iters), off_us: off, on_us: on, overhead: on / off - 1, events_last_run: events, rounds: times }));
}
