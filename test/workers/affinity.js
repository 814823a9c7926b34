'use strict';
// Prints the CPUs this worker may run on, as the kernel says.
const fs = require('node:fs');
const list = /^Cpus_allowed_list:\s*(.+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1].trim();
console.log(`RESULT ${JSON.stringify({ rank: Number(process.env.DTRAIN_RANK), cpus: list, workerCpus: process.env.DTRAIN_WORKER_CPUS, pid: process.pid })}`);
