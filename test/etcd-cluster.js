'use strict';
// Starts a throwaway etcd cluster on loopback, for tests of the etcd-backed elastic store.
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

/** The etcd binary's path, or null when etcd is not installed (`apt-get install etcd-server`). */
function etcdAvailable() {
  const candidates = [process.env.ETCD_BIN, '/usr/bin/etcd', '/usr/local/bin/etcd'].filter(Boolean);
  for (const c of candidates) if (fs.existsSync(c)) return c;
  try {
    const found = execFileSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' }).trim();
    return found === '' ? null : found;
  } catch {
    return null;
  }
}

/**
 * `count` distinct free loopback ports. All are held open together before any is released, so
 * the kernel cannot hand the same one out twice; etcd binds them a moment later.
 */
async function freePorts(count) {
  const servers = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
      servers.push(server);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether the member at `endpoint` says it is healthy (has a leader). */
async function healthy(endpoint) {
  try {
    const res = await fetch(`http://${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
    const body = await res.json();
    return res.ok && (body.health === true || body.health === 'true');
  } catch {
    return false;
  }
}

/** Members of every cluster still running, killed if the test process exits without stop(). */
const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

/**
 * Starts an etcd cluster of `members` on 127.0.0.1 (fresh data directories, fast elections so
 * that failover takes well under a second) and resolves once every member is healthy.
 *
 * @returns {{ endpoints: string[], url: string, kill(i: number): Promise<void>, stop(): Promise<void> }}
 */
async function startEtcdCluster({ members = 3, timeoutMs = 20000 } = {}) {
  const bin = etcdAvailable();
  if (!bin) throw new Error('etcd is not installed (apt-get install etcd-server)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-etcd-'));
  const ports = await freePorts(2 * members);
  const names = Array.from({ length: members }, (_, i) => `m${i}`);
  const clientPorts = ports.slice(0, members);
  const peerPorts = ports.slice(members);
  const endpoints = clientPorts.map((p) => `127.0.0.1:${p}`);
  const initialCluster = names.map((n, i) => `${n}=http://127.0.0.1:${peerPorts[i]}`).join(',');
  const token = `dtrain-test-${process.pid}-${Date.now()}-${Math.random().toString(16).slice(2)}`;

  const children = names.map((name, i) => {
    const log = fs.openSync(path.join(dir, `${name}.log`), 'w');
    const child = spawn(
      bin,
      [
        `--name=${name}`,
        `--data-dir=${path.join(dir, name)}`,
        `--listen-client-urls=http://${endpoints[i]}`,
        `--advertise-client-urls=http://${endpoints[i]}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPorts[i]}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPorts[i]}`,
        `--initial-cluster=${initialCluster}`,
        '--initial-cluster-state=new',
        `--initial-cluster-token=${token}`,
        '--heartbeat-interval=50',
        '--election-timeout=500',
        '--logger=zap',
        '--log-level=warn',
      ],
      { stdio: ['ignore', log, log] },
    );
    fs.closeSync(log);
    running.add(child);
    child.exited = new Promise((resolve) => child.once('exit', resolve));
    child.exited.then(() => running.delete(child));
    child.on('error', () => {});
    return child;
  });

  const logs = () => names.map((n) => `--- ${n}\n${fs.readFileSync(path.join(dir, `${n}.log`), 'utf8').slice(-2000)}`).join('\n');

  async function kill(i) {
    const child = children[i];
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await child.exited;
  }

  let stopped = false;
  async function stop() {
    if (stopped) return;
    stopped = true;
    await Promise.all(children.map((_, i) => kill(i)));
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const dead = children.findIndex((c) => c.exitCode !== null || c.signalCode !== null);
    if (dead >= 0) {
      const text = logs();
      await stop();
      throw new Error(`etcd member ${names[dead]} exited while the cluster started:\n${text}`);
    }
    const states = await Promise.all(endpoints.map(healthy));
    if (states.every(Boolean)) break;
    if (Date.now() > deadline) {
      const text = logs();
      await stop();
      throw new Error(`etcd cluster not healthy within ${timeoutMs} ms (${endpoints.join(', ')}):\n${text}`);
    }
    await delay(100);
  }

  return { endpoints, url: `etcd://${endpoints.join(',')}`, dir, kill, stop };
}

module.exports = { startEtcdCluster, etcdAvailable, freePorts };
