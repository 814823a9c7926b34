'use strict';
// Elastic jobs through the real launcher, with workers killed on cue: test/85 (one host) and
// test/88 (two network namespaces).
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { ROOT } = require('./helpers');

const CLI = path.join(ROOT, 'bin', 'dtrain.js');

function parentOf(pid) {
  return Number(/^PPid:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

/**
 * The pid of the launcher's worker whose DTRAIN_ELASTIC_ID is `id`, or undefined: its child, or a
 * descendant within three levels (a launcher command, such as a shell standing in for ssh).
 */
function workerPid(launcherPid, id) {
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      let up = parentOf(p);
      for (let depth = 1; up !== launcherPid && up > 1 && depth < 3; depth++) up = parentOf(up);
      if (up !== launcherPid) continue;
      if (fs.readFileSync(`/proc/${p}/environ`, 'utf8').split('\0').includes(`DTRAIN_ELASTIC_ID=${id}`)) return Number(p);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/**
 * Runs `dtrain run LAUNCHER_ARGS SCRIPT ARGS`; `kills` are [id, delayMs] pairs, each delay
 * counted from the first line containing `startedWhen` (training has begun). Resolves like
 * runJob, plus `killedAt` (Date.now() of each kill). `onStarted` is called at that line too.
 * `prefix` runs the launcher under another
 * command that execs it (`ip netns exec NS`), so its pid stays the child's.
 */
function elasticJob({ launcherArgs, script, args = [], kills = [], startedWhen = 'RESULT', env = {}, timeoutMs = 150000, prefix = [], onStarted }) {
  return new Promise((resolve, reject) => {
    const argv = [...prefix, process.execPath, CLI, 'run', ...launcherArgs, script, ...args];
    const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let started = false;
    const killedAt = [];
    const timers = [];
    const onData = () => {
      if (started || !(stdout + stderr).includes(startedWhen)) return;
      started = true;
      onStarted?.();
      for (const [id, delay] of kills) {
        timers.push(
          setTimeout(() => {
            const pid = workerPid(child.pid, id);
            if (pid === undefined) return void killedAt.push(null);
            process.kill(pid, 'SIGKILL');
            killedAt.push(Date.now());
          }, delay),
        );
      }
    };
    child.stdout.on('data', (d) => ((stdout += d), onData()));
    child.stderr.on('data', (d) => ((stderr += d), onData()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`job did not finish within ${timeoutMs} ms\nstdout:\n${stdout.slice(-3000)}\nstderr:\n${stderr.slice(-3000)}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      timers.forEach(clearTimeout);
      const results = [];
      for (const line of stdout.split('\n')) {
        const m = /^\[(\d+)\] RESULT (.*)$/.exec(line);
        if (m) results.push({ ...JSON.parse(m[2]), worker: Number(m[1]) });
      }
      const summary = stdout
        .split('\n')
        .map((l) => /^\[\d+\] (\{"np".*)$/.exec(l))
        .filter(Boolean)
        .map((m) => JSON.parse(m[1]))[0];
      resolve({ code, stdout, stderr, results, summary, killedAt });
    });
  });
}

module.exports = { elasticJob, workerPid };
