'use strict';
// Worker-side helpers: print a machine-readable result line for the test to read.
function report(obj) {
  process.stdout.write(`RESULT ${JSON.stringify(obj)}\n`);
}

/** FNV-1a over the bytes of a typed array: equal hashes mean bitwise-equal arrays. */
function hashBytes(ta) {
  const b = new Uint8Array(ta.buffer, ta.byteOffset, ta.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) {
    h ^= b[i];
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

/** Deterministic pseudo-random numbers (mulberry32), the same in every process. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

module.exports = { report, hashBytes, rng };
