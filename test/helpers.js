'use strict';
// Starts a job through the real launcher (bin/dtrain.js) and collects its output.
const { spawn } = require('node:child_process');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'dtrain.js');

/**
 * Runs `dtrain run -np N [launcherArgs] script [scriptArgs]` (with `cli`, another copy of the
 * package's bin/dtrain.js if given) and resolves with
 * { code, signal, stdout, stderr, results } where results are the JSON objects that workers
 * printed on lines starting with "RESULT ", each tagged `worker` with the rank the launcher prefixed.
 */
/**
 * Runs `command args` and resolves with { code, signal, stdout, stderr, results }, results
 * being the JSON of lines `RESULT {...}` (optionally `[rank] `-prefixed, then tagged `worker`).
 */
function spawnCollect(command, args, { env = {}, timeoutMs = 90000, cwd = ROOT } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(command)} did not finish within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const results = [];
      for (const line of stdout.split('\n')) {
        const m = /^(?:\[(\d+)\] )?RESULT (\{.*\})$/.exec(line);
        if (m) results.push(m[1] === undefined ? JSON.parse(m[2]) : { ...JSON.parse(m[2]), worker: Number(m[1]) });
      }
      resolve({ code, signal, stdout, stderr, results });
    });
  });
}

function runJob({ np, script, args = [], launcherArgs = [], env = {}, timeoutMs = 90000, cli = CLI }) {
  return spawnCollect(process.execPath, [cli, 'run', '-np', String(np), ...launcherArgs, path.join(__dirname, 'workers', script), ...args], { env, timeoutMs });
}

function describeJob(job) {
  return `exit ${job.code}\nstdout:\n${job.stdout.slice(-4000)}\nstderr:\n${job.stderr.slice(-4000)}`;
}

module.exports = { runJob, spawnCollect, describeJob, ROOT };
