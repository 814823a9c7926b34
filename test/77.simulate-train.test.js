'use strict';
// `dtrain simulate --train`: step time and scaling efficiency of data-parallel training, checked
// against `dtrain simulate` itself and against closed forms computed here (format sizes, the
// ring and recursive-doubling all-gather, the step model), not by the code under test.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { expect } = require('chai');
const { ROOT } = require('./helpers');

const CLI = path.join(ROOT, 'bin', 'dtrain.js');
function dtrain(...args) {
  const r = spawnSync(process.execPath, [CLI, 'simulate', ...args], { encoding: 'utf8', timeout: 120000 });
  const json = r.status === 0 && args.includes('--json') ? r.stdout.trim().split('\n').map((l) => JSON.parse(l)) : null;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json };
}
const train = (...args) => dtrain('--train', ...args);

// The reference MLP 784-512-256-10: weights and biases of three layers.
const N = 784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10;
const GRAD = 4 * N;
// 10 Gb/s with 25 us per message, as --network 10gbe says.
const A = 25e-6;
const B = 8e-10;
const G = 5e-11;
const MODEL = ['--alpha', String(A), '--beta', String(B), '--gamma', String(G)];
const close = (a, b, rel = 1e-9) => expect(Math.abs(a - b)).to.be.at.most(rel * Math.max(Math.abs(a), Math.abs(b), 1e-12));

// Each rank's message, from the formats' definitions (bit-planes of ceil(n/8) bytes).
const plane = Math.ceil(N / 8);
const chunks = Math.ceil(N / 512);
const FORMAT_BYTES = {
  none: 4 * N,
  fp16: 2 * N,
  'dgc:0.001': 8 * Math.ceil(N * 0.001),
  'qsgd:15': 5 * plane + 4 * chunks, // a sign plane + ceil(log2(16)) = 4 level planes
  terngrad: 2 * plane + 4 * chunks,
  onebit: plane + 4 * (Math.ceil(N / 512) + 6), // a scale per 512 elements of each of the 6 tensors, bounded by chunks + tensors
};

describe('dtrain simulate --train', function () {
  this.timeout(180000);

  it('defaults to the reference model: 535,818 float32 gradients, 2,143,272 bytes', function () {
    expect(N).to.equal(535818);
    const { code, json, stderr } = train('--np', '2', '--compute-ms', '5', '--compression', 'none', '--algo', 'ring', '--json');
    expect(code, stderr).to.equal(0);
    expect(json).to.have.length(1);
    expect(json[0]).to.include({ np: 2, algo: 'ring', compression: 'none', collective: 'allreduce', grad_bytes: GRAD, bytes_per_rank: GRAD, compute_ms: 5 });
    expect(json[0]).to.include.keys('step_ms', 'comm_ms', 'efficiency', 'bytes_sent_per_rank', 'encode_ms', 'decode_ms', 'hidden_ms', 'model');
  });

  for (const algo of ['ring', 'halving-doubling', 'binary-blocks', 'recursive-doubling']) {
    it(`none over ${algo}: comm is dtrain simulate --algo ${algo} --bytes <grad bytes>, for the same network`, function () {
      const nps = [2, 16, 100];
      const { code, json, stderr } = train('--np', nps.join(','), '--compute-ms', '4', '--algo', algo, '--compression', 'none', '--network', '10gbe', '--json');
      expect(code, stderr).to.equal(0);
      expect(json.map((r) => r.np)).to.deep.equal(nps);
      for (const row of json) {
        const plain = dtrain('--algo', algo, '-np', String(row.np), '--bytes', String(GRAD), ...MODEL, '--json').json[0];
        close(row.comm_ms, plain.predicted_s * 1e3);
        expect(row.bytes_sent_per_rank).to.equal(plain.max_bytes_sent_per_rank);
        expect(row.model).to.deep.equal({ alpha: A, beta: B, gamma: G });
      }
    });
  }

  it('none over ring matches the ring closed form 2(p-1)a + 2n(p-1)/p b + n(p-1)/p g within 1%', function () {
    const { json } = train('--np', '8,64', '--compute-ms', '4', '--algo', 'ring', '--compression', 'none', ...MODEL, '--json');
    for (const r of json) {
      const p = r.np;
      const f = 2 * (p - 1) * A + ((2 * GRAD * (p - 1)) / p) * B + ((GRAD * (p - 1)) / p) * G;
      expect(Math.abs(r.comm_ms / 1e3 - f) / f).to.be.below(0.01);
    }
  });

  it('fp16 halves the all-reduced bytes: its comm is simulate --bytes <grad bytes / 2>', function () {
    const { json } = train('--np', '16', '--compute-ms', '4', '--algo', 'ring,binary-blocks', '--compression', 'none,fp16', ...MODEL, '--json');
    for (const algo of ['ring', 'binary-blocks']) {
      const none = json.find((r) => r.algo === algo && r.compression === 'none');
      const fp16 = json.find((r) => r.algo === algo && r.compression === 'fp16');
      expect(fp16.bytes_per_rank).to.equal(GRAD / 2);
      expect(fp16.collective).to.equal('allreduce');
      expect(Math.abs(fp16.bytes_sent_per_rank - none.bytes_sent_per_rank / 2)).to.be.at.most(16);
      const plain = dtrain('--algo', algo, '-np', '16', '--bytes', String(GRAD / 2), ...MODEL, '--json').json[0];
      close(fp16.comm_ms, plain.predicted_s * 1e3);
    }
  });

  it("the all-gather formats: each rank's message as the formats define it, and a ring all-gather sends (P-1) of them in (P-1)(a + c b)", function () {
    const nps = [2, 16, 128];
    const { code, json, stderr } = train('--np', nps.join(','), '--compute-ms', '4', '--algo', 'ring', '--compression', 'dgc,qsgd,terngrad,onebit', ...MODEL, '--json');
    expect(code, stderr).to.equal(0);
    expect(json).to.have.length(nps.length * 4);
    for (const r of json) {
      const c = FORMAT_BYTES[r.compression];
      expect(r.collective).to.equal('allgather');
      expect(r.bytes_per_rank, r.compression).to.equal(c);
      expect(r.bytes_sent_per_rank).to.equal((r.np - 1) * c);
      close(r.comm_ms / 1e3, (r.np - 1) * (A + c * B));
    }
    // So they grow linearly with P: what every rank receives is (P-1) x its own message.
    const onebit = json.filter((r) => r.compression === 'onebit');
    close(onebit[2].bytes_sent_per_rank / onebit[1].bytes_sent_per_rank, 127 / 15);
  });

  it('recursive-doubling all-gathers in lg P rounds: lg P a + (P-1) c b at powers of two, up to 2,048 ranks', function () {
    const { json } = train('--np', '8,2048', '--compute-ms', '4', '--algo', 'recursive-doubling', '--compression', 'dgc:0.01,onebit', ...MODEL, '--json');
    for (const r of json) {
      const c = r.compression === 'onebit' ? FORMAT_BYTES.onebit : 8 * Math.ceil(N * 0.01);
      expect(r.bytes_per_rank).to.equal(c);
      close(r.comm_ms / 1e3, Math.log2(r.np) * A + (r.np - 1) * c * B);
      // The same as the plain command's all-gather.
      const plain = dtrain('--algo', 'recursive-doubling', '--collective', 'allgather', '-np', String(r.np), '--bytes', String(c), ...MODEL, '--json').json[0];
      expect(plain.collective).to.equal('allgather');
      close(r.comm_ms, plain.predicted_s * 1e3);
    }
  });

  it('efficiency = compute / (compute + comm) without overlap; overlap hides min(F comm, compute)', function () {
    const base = ['--np', '1,4,64', '--compute-ms', '3.5', '--algo', 'binary-blocks', '--compression', 'none', ...MODEL, '--json'];
    for (const f of [0, 0.5, 1]) {
      const { json } = train(...base, '--overlap', String(f));
      for (const r of json) {
        const hidden = Math.min(f * r.comm_ms, 3.5);
        close(r.hidden_ms, hidden);
        close(r.step_ms, 3.5 + r.comm_ms - hidden);
        close(r.efficiency, 3.5 / (3.5 + r.comm_ms - hidden));
        if (f === 0) close(r.efficiency, 3.5 / (3.5 + r.comm_ms));
        if (r.np === 1) expect(r).to.include({ comm_ms: 0, efficiency: 1 });
      }
    }
  });

  it("--from takes compute as the last JSON line's step_ms - comm_wait_ms, through the launcher's prefix", function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-simtrain-'));
    const file = path.join(dir, 'run.jsonl');
    fs.writeFileSync(
      file,
      '[0] 2 worker(s), batch 64 per worker\n' +
        '[0] {"epoch":1,"step_ms":9,"comm_wait_ms":1}\n' +
        '[0] {"np":2,"epochs":1,"batch_per_worker":64,"step_ms":5.5,"comm_wait_ms":1.5,"samples_per_s":23000,"bytes_sent_per_step":2143400}\n',
    );
    let r = train('--np', '4', '--from', file, '--algo', 'ring', '--compression', 'none', ...MODEL, '--json');
    expect(r.code, r.stderr).to.equal(0);
    close(r.json[0].compute_ms, 4);
    expect(r.json[0].batch_per_worker).to.equal(64);
    close(r.json[0].samples_per_s, (4 * 64 * 1e3) / r.json[0].step_ms, 1e-3);
    // --batch-per-worker rescales compute at the same compute per sample.
    r = train('--np', '4', '--from', file, '--batch-per-worker', '256', '--algo', 'ring', '--compression', 'none', ...MODEL, '--json');
    close(r.json[0].compute_ms, 16);
    // The readable table says where compute came from.
    r = train('--np', '4', '--from', file, '--algo', 'ring', '--compression', 'none', ...MODEL);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/step_ms 5\.5 - comm_wait_ms 1\.5 = 4 ms measured at np 2, batch 64/);
    expect(r.stdout).to.match(/efficiency = compute \/ step/);
    expect(r.stdout).to.match(/^\s*4\s+ring\s+none\s+all-reduce/m);
    fs.rmSync(dir, { recursive: true });
  });

  it('--decode-gbps adds decoding: one block per rank for the all-gather formats, one for fp16', function () {
    const { json } = train('--np', '2,32', '--compute-ms', '4', '--algo', 'ring', '--compression', 'fp16,onebit,dgc', '--decode-gbps', '2', ...MODEL, '--json');
    for (const r of json) {
      const out = r.compression === 'dgc:0.001' ? Math.ceil(N * 0.001) : N;
      const blocks = r.compression === 'fp16' ? 1 : r.np;
      close(r.decode_ms, (blocks * 4 * out) / 2e9 * 1e3);
      expect(r.encode_ms).to.equal(0);
      close(r.step_ms, 4 + r.comm_ms + r.decode_ms);
      expect(r.codec).to.equal('modelled');
    }
  });

  it("--measure-codec times the kernels: decoding grows with P for the all-gather formats, not for fp16", function () {
    const { code, json, stderr } = train('--np', '4,8', '--compute-ms', '4', '--algo', 'ring', '--compression', 'none,fp16,onebit', '--measure-codec', ...MODEL, '--json');
    expect(code, stderr).to.equal(0);
    const row = (c, np) => json.find((r) => r.compression === c && r.np === np);
    expect(row('none', 4)).to.include({ encode_ms: 0, decode_ms: 0 });
    for (const c of ['fp16', 'onebit']) {
      expect(row(c, 4).encode_ms).to.be.above(0);
      expect(row(c, 4).decode_ms).to.be.above(0);
      expect(row(c, 8).encode_ms).to.equal(row(c, 4).encode_ms);
    }
    expect(row('fp16', 8).decode_ms).to.equal(row('fp16', 4).decode_ms);
    close(row('onebit', 8).decode_ms, 2 * row('onebit', 4).decode_ms);
    expect(row('onebit', 4).codec).to.equal('measured');
  });

  it('every (P, algorithm, compression): all-reduce algorithms for none/fp16, all-gather ones for the rest', function () {
    const { code, json, stderr } = train('--np', '2,8', '--compute-ms', '4', '--json');
    expect(code, stderr).to.equal(0);
    const reduceAlgos = ['ring', 'halving-doubling', 'binary-blocks', 'recursive-doubling', 'direct'];
    const gatherAlgos = ['ring', 'recursive-doubling'];
    expect(json).to.have.length(2 * (2 * reduceAlgos.length + 4 * gatherAlgos.length));
    for (const r of json) {
      expect(r.collective === 'allreduce' ? reduceAlgos : gatherAlgos).to.include(r.algo);
    }
    expect(stderr).to.match(/hierarchical left out: it needs --ranks-per-host/);
    expect(stderr).to.match(/halving-doubling, binary-blocks, direct have no all-gather schedule/);
  });

  it('hierarchical with --ranks-per-host K: hosts = ceil(P/K), comm as simulate --algo hierarchical --hosts H', function () {
    const { code, json, stderr } = train('--np', '16,20', '--ranks-per-host', '4', '--compute-ms', '4', '--algo', 'hierarchical', '--compression', 'none', '--intra-alpha', '1e-6', '--intra-beta', '1e-10', ...MODEL, '--json');
    expect(code, stderr).to.equal(0);
    for (const r of json) {
      expect(r.hosts).to.equal(Math.ceil(r.np / 4));
      expect(r.model).to.include({ alpha_intra: 1e-6, beta_intra: 1e-10 });
      const plain = dtrain('--algo', 'hierarchical', '-np', String(r.np), '--hosts', String(r.hosts), '--bytes', String(GRAD), '--intra-alpha', '1e-6', '--intra-beta', '1e-10', ...MODEL, '--json').json[0];
      close(r.comm_ms, plain.predicted_s * 1e3);
    }
  });

  it('--plot draws efficiency against P for each algorithm x compression', function () {
    const file = path.join(os.tmpdir(), `dtrain-simtrain-${process.pid}.svg`);
    const { code, stdout } = train('--np', '2,16,128', '--compute-ms', '4', '--network', '10gbe', '--plot', file);
    expect(code).to.equal(0);
    expect(stdout).to.include(`wrote ${file}`);
    const svg = fs.readFileSync(file, 'utf8');
    expect(svg).to.match(/^<svg /);
    for (const name of ['none, ring', 'fp16, binary-blocks', 'dgc:0.001, recursive-doubling', 'onebit, ring']) expect(svg).to.include(name);
    expect(svg).to.include('90%');
    fs.rmSync(file);
  });

  it('rejects bad input with exit 2, one message and no stack', function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtrain-simtrain-'));
    const partial = path.join(dir, 'partial.jsonl');
    fs.writeFileSync(partial, '{"np":2,"step_ms":4}\n');
    const prose = path.join(dir, 'prose.txt');
    fs.writeFileSync(prose, 'no json here\n');
    const cases = [
      [['--np', '4', '--compute-ms', '4', '--compression', 'gzip'], /unknown compression 'gzip'; known: none, fp16, dgc, qsgd, terngrad, onebit/],
      [['--np', '4', '--compute-ms', '4', '--compression', 'dgc:0'], /density must be in \(0, 1\]/],
      [['--np', '4', '--compute-ms', '4', '--compression', 'qsgd:0'], /levels must be a whole number/],
      [['--np', '4', '--compute-ms', '4', '--compression', 'fp16:3'], /fp16 takes no parameter/],
      [['--np', '4', '--compute-ms', '4', '--algo', 'bogus'], /unknown all-reduce algorithm 'bogus'/],
      [['--np', '4', '--compute-ms', '4', '--algo', 'auto'], /auto is what the simulator decides between/],
      [['--np', '4', '--compute-ms', '4', '--algo', 'hierarchical'], /hierarchical needs hosts/],
      [['--np', '4', '--compute-ms', '4', '--algo', 'binary-blocks', '--compression', 'onebit'], /onebit travels by all-gather, which binary-blocks does not implement/],
      [['--np', '4', '--compute-ms', '0'], /--compute-ms.*Expected a number > 0/],
      [['--np', '4', '--compute-ms', '-3'], /--compute-ms/],
      [['--np', '4,0', '--compute-ms', '4'], /Expected positive integers/],
      [['--np', '4', '--compute-ms', '4', '--grad-bytes', '0'], /--grad-bytes must be a positive multiple of 4/],
      [['--np', '4', '--compute-ms', '4', '--grad-bytes', '10'], /--grad-bytes must be a positive multiple of 4/],
      [['--np', '4', '--compute-ms', '4', '--overlap', '1.5'], /--overlap.*fraction from 0 to 1/],
      [['--np', '4', '--compute-ms', '4', '--decode-gbps', '0'], /--decode-gbps/],
      [['--np', '4', '--compute-ms', '4', '--tensors', '0'], /--tensors/],
      [['--np', '4', '--compute-ms', '4', '--hosts', '8'], /--hosts 8 exceeds --np 4/],
      [['--np', '4', '--compute-ms', '4', '--intra-beta', '1e-11'], /--intra-alpha\/--intra-beta describe the link within a host/],
      [['--np', '4', '--compute-ms', '4', '--network', '5g'], /--network.*Expected one of 1gbe, 10gbe, 25gbe, 100gbe/],
      [['--np', '4', '--compute-ms', '4', '--network', '10gbe', '--transport', 'tcp'], /--network and --transport are two starting models/],
      [['--np', '4', '--compute-ms', '4', '--measure-codec', '--decode-gbps', '3'], /two codec costs/],
      [['--np', '4'], /--train needs the compute time/],
      [['--np', '4', '--compute-ms', '4', '--from', partial], /two compute times/],
      [['--np', '4', '--from', partial], /its last JSON line lacks batch_per_worker, comm_wait_ms/],
      [['--np', '4', '--from', prose], /no JSON line/],
      [['--np', '4', '--from', path.join(dir, 'missing.jsonl')], /--from .*missing\.jsonl: ENOENT/],
      [['--np', '4', '--compute-ms', '4', '--bytes', '4096'], /--train takes --grad-bytes/],
    ];
    for (const [args, message] of cases) {
      const r = train(...args);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.stderr, args.join(' ')).to.match(message);
      expect(r.stderr, args.join(' ')).to.not.match(/\n\s+at /);
    }
    // Options of --train without it.
    const r = dtrain('--algo', 'ring', '-np', '4', '--bytes', '4096', '--compression', 'fp16');
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/--compression goes with --train/);
    const list = dtrain('--algo', 'ring', '-np', '4,8', '--bytes', '4096');
    expect(list.code).to.equal(2);
    expect(list.stderr).to.match(/--np takes one number/);
    fs.rmSync(dir, { recursive: true });
  });
});
