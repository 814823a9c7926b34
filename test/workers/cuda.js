'use strict';
// Collectives and dtrain.cuda in a job (argv[2]):
//  host-nccl: algorithm 'nccl' on host arrays is refused on every rank before anything is sent,
//    and the communicator goes on working;
//  device: with a GPU per rank, every collective on device buffers (NCCL's and dtrain's
//    schedules over NCCL) against the host result, and the kernels on device buffers against
//    dtrain.kernels on the CPU.
const dtrain = require('../..');
const { report } = require('./report');

async function hostNccl() {
  const rank = dtrain.rank();
  const out = { rank };
  try {
    await dtrain.allreduce(new Float32Array(8).fill(1), { algorithm: 'nccl' });
    out.refused = false;
  } catch (e) {
    out.refused = true;
    out.name = e.name;
    out.code = e.code;
    out.message = e.message;
  }
  try {
    dtrain.allgatherSync(new Float32Array(2), { algorithm: 'nccl' });
  } catch (e) {
    out.gatherMessage = e.message;
  }
  out.after = Array.from(await dtrain.allreduce(new Float32Array([rank + 1])));
  return out;
}

function values(n, seed) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (((i * 7 + seed * 13) % 101) - 50) * 0.25;
  return a;
}

async function device() {
  const rank = dtrain.rank();
  const size = dtrain.size();
  const out = { rank, device: dtrain.cuda.defaultDevice(), results: {} };
  const n = 1000003;
  const mine = values(n, rank);
  const expected = new Float32Array(n);
  for (let r = 0; r < size; r++) {
    const v = values(n, r);
    for (let i = 0; i < n; i++) expected[i] += v[i];
  }
  const host = Float32Array.from(mine);
  await dtrain.allreduce(host);
  for (const algorithm of [undefined, 'nccl', 'ring', 'halving-doubling', 'recursive-doubling']) {
    if (algorithm === 'halving-doubling' && (size & (size - 1)) !== 0) continue;
    const buf = dtrain.cuda.alloc(n).copyFrom(mine);
    const stream = dtrain.cuda.stream();
    await dtrain.allreduce(buf, { algorithm, stream });
    const got = buf.copyTo(new Float32Array(n));
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[i] - host[i]));
    out.results[algorithm ?? 'auto'] = worst;
    buf.free();
    stream.destroy();
  }
  const b = dtrain.cuda.alloc(16).copyFrom(values(16, rank));
  await dtrain.broadcast(b, 0);
  out.broadcast = Array.from(b.copyTo(new Float32Array(16))).join(',') === Array.from(values(16, 0)).join(',');
  const g = await dtrain.allgather(dtrain.cuda.alloc(4).copyFrom(new Float32Array(4).fill(rank)));
  out.allgather = Array.from(g.copyTo(new Float32Array(4 * size)));
  const rs = await dtrain.reduceScatter(dtrain.cuda.alloc(size * 3).copyFrom(new Float32Array(size * 3).fill(rank + 1)));
  out.reduceScatter = Array.from(rs.copyTo(new Float32Array(3)));
  // The kernels on device buffers against the CPU's.
  const x = values(4099, 7);
  const d32 = dtrain.cuda.alloc(x.length).copyFrom(x);
  const d16 = dtrain.cuda.alloc(x.length, 'float16');
  dtrain.cuda.castToHalf(d32, d16, { scale: 8 });
  const cpu16 = dtrain.kernels.castToHalf(x, { scale: 8 });
  out.castToHalf = Array.from(d16.copyTo(new Uint16Array(x.length))).join(',') === Array.from(cpu16).join(',');
  const back = dtrain.cuda.alloc(x.length);
  out.overflow = dtrain.cuda.castFromHalf(d16, back, { scale: 8 });
  // Compression: the same codes as the CPU's for the same seed and norm.
  const cpuQ = dtrain.kernels.qsgdEncode(x, { levels: 15, seed: 77 });
  const code = dtrain.cuda.alloc(dtrain.kernels.qsgdCodeBytes(x.length, 15), 'uint8');
  const norm = dtrain.cuda.qsgdEncode(d32, code, { levels: 15, seed: 77, norm: cpuQ.norm });
  out.qsgd = norm === cpuQ.norm && Array.from(code.copyTo(new Uint8Array(code.length))).join(',') === Array.from(cpuQ.code).join(',');
  const residual = new Float32Array(x.length);
  const cpuS = dtrain.kernels.signEncode(x, residual);
  const dres = dtrain.cuda.alloc(x.length);
  dres.copyFrom(new Float32Array(x.length));
  const scode = dtrain.cuda.alloc(Math.ceil(x.length / 8), 'uint8');
  const sscale = dtrain.cuda.signEncode(d32, dres, scode);
  out.sign = Math.abs(sscale - cpuS.scale) <= 1e-6 * Math.abs(cpuS.scale) && Array.from(scode.copyTo(new Uint8Array(scode.length))).join(',') === Array.from(cpuS.code).join(',');
  return out;
}

(async () => {
  await dtrain.init();
  const mode = process.argv[2];
  report(mode === 'device' ? await device() : await hostNccl());
  await dtrain.shutdown();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
