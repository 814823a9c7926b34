'use strict';
// Reads the per-worker sample ledgers of an elastic run (Trainer's sampleLedger) and checks that
// every epoch consumed every sample exactly once. A step of generation g counts only if it was
// not rolled back: the reset that formed generation g+1 restarted from step S (every member
// writes it), so g's steps after S were redone by the next generation.
const fs = require('node:fs');
const path = require('node:path');

function readLedgers(prefix) {
  const dir = path.dirname(prefix);
  const base = path.basename(prefix);
  const files = fs.readdirSync(dir).filter((f) => f.startsWith(`${base}.w`));
  const steps = [];
  const restart = new Map(); // generation -> the step it restarted from
  for (const f of files) {
    for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      if (!line) continue;
      let r;
      try {
        r = JSON.parse(line);
      } catch {
        continue; // a line cut short by a SIGKILL
      }
      if (r.reset !== undefined) {
        if (restart.has(r.reset) && restart.get(r.reset) !== r.step) throw new Error(`generation ${r.reset} restarted from steps ${restart.get(r.reset)} and ${r.step}`);
        restart.set(r.reset, r.step);
      } else steps.push({ ...r, worker: f.slice(base.length + 1) });
    }
  }
  return { files, steps, restart };
}

/** { epochs: { e: { count, missing, repeated } }, generations } for the ledgers at `prefix`. */
function checkLedger(prefix, n) {
  const { files, steps, restart } = readLedgers(prefix);
  // A step of generation g survives if every later restart happened at or after it.
  const gens = [...restart.keys()].sort((a, b) => a - b);
  const kept = steps.filter((s) => gens.every((g) => g <= s.g || s.s <= restart.get(g)));
  const epochs = {};
  for (const s of kept) {
    const e = (epochs[s.e] ??= new Uint32Array(n));
    for (const i of s.i) e[i]++;
  }
  const out = {};
  for (const [e, counts] of Object.entries(epochs)) {
    let missing = 0;
    let repeated = 0;
    for (const c of counts) {
      if (c === 0) missing++;
      if (c > 1) repeated += c - 1;
    }
    out[e] = { missing, repeated };
  }
  return { files: files.length, generations: gens.length + 1, steps: steps.length, kept: kept.length, epochs: out };
}

module.exports = { checkLedger };
