'use strict';
// Finds the Debian PyTorch (python3-torch) the reference tests and the DDP peer use.
const { spawnSync } = require('node:child_process');

let cached;
/** '/usr/bin/python3' when it imports torch, else null; the reason is in torchPython.why. */
function torchPython() {
  if (cached !== undefined) return cached;
  const python = process.env.DTRAIN_TORCH_PYTHON || '/usr/bin/python3';
  const r = spawnSync(python, ['-c', 'import torch, numpy; print(torch.__version__)'], { encoding: 'utf8' });
  cached = r.status === 0 ? python : null;
  torchPython.why = r.status === 0 ? '' : `${python} cannot import torch and numpy (apt-get install python3-torch)`;
  return cached;
}

module.exports = { torchPython };
