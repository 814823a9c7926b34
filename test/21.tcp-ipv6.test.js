'use strict';
// The TCP transport over IPv6: with DTRAIN_TCP_ADDR=::1 every rank listens on the IPv6 loopback
// only and publishes [::1]:port, so the job runs only if peers connect over IPv6. Every
// collective is checked by test/workers/collectives.js, as over IPv4 in 20.collectives.
const net = require('node:net');
const { expect } = require('chai');
const { runJob, describeJob } = require('./helpers');

function hasIpv6Loopback() {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => server.close(() => resolve(true)));
  });
}

describe('collectives over tcp on IPv6', function () {
  before(async function () {
    if (!(await hasIpv6Loopback())) this.skip();
  });

  for (const [np, addr] of [
    [2, '::1'],
    [3, '::1'],
    [2, '[::1]'],
  ]) {
    it(`np=${np}, DTRAIN_TCP_ADDR=${addr}: all-reduce, broadcast, all-gather, barrier`, async function () {
      const job = await runJob({ np, script: 'collectives.js', launcherArgs: ['--transport', 'tcp'], env: { DTRAIN_TCP_ADDR: addr } });
      expect(job.code, describeJob(job)).to.equal(0);
      expect(job.results.map((r) => r.worker).sort(), describeJob(job)).to.deep.equal([...Array(np).keys()]);
      for (const r of job.results) {
        expect(r.ok).to.equal(true);
        expect(r.cases).to.be.greaterThan(100);
      }
    });
  }
});
