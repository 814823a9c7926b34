'use strict';
// Prints this worker's DTRAIN_* environment as one JSON line.
const env = {};
for (const [k, v] of Object.entries(process.env)) if (k.startsWith('DTRAIN_')) env[k] = v;
console.log(JSON.stringify(env));
