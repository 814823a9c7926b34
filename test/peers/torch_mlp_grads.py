"""Independent reference for test/60.nn: the loss and every gradient of an MLP (Linear/ReLU,
mean softmax cross-entropy) by torch autograd, in float32 and in float64.
Usage: python3 torch_mlp_grads.py SPEC.json
SPEC: {"sizes": [784, 512, 256, 10], "batch": B, "input": "in.bin", "output": "out.bin"}
in.bin: float32 weights and biases layer by layer (weight [out, in] row-major, then bias), then
x [B, sizes[0]], then the labels as float32. out.bin: float64 [loss32, loss64], then the float32
gradients in the same order as the parameters, then the float64 gradients."""
import json, sys
import numpy as np
import torch

spec = json.load(open(sys.argv[1]))
sizes, batch = spec["sizes"], spec["batch"]
blob = np.fromfile(spec["input"], dtype=np.float32)
layers, at = [], 0
for i, o in zip(sizes[:-1], sizes[1:]):
    w = blob[at:at + o * i].reshape(o, i); at += o * i
    b = blob[at:at + o]; at += o
    layers.append((w, b))
x = blob[at:at + batch * sizes[0]].reshape(batch, sizes[0]); at += batch * sizes[0]
y = blob[at:at + batch].astype(np.int64)

def run(dtype):
    mods = []
    for k, (w, b) in enumerate(layers):
        lin = torch.nn.Linear(w.shape[1], w.shape[0]).to(dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w).to(dtype)); lin.bias.copy_(torch.from_numpy(b).to(dtype))
        mods.append(lin)
        if k < len(layers) - 1:
            mods.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*mods)
    loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x).to(dtype)), torch.from_numpy(y))
    loss.backward()
    grads = [p.grad.detach().numpy().ravel() for p in model.parameters()]
    return loss.item(), grads

torch.set_num_threads(1)
l32, g32 = run(torch.float32)
l64, g64 = run(torch.float64)
with open(spec["output"], "wb") as f:
    np.array([l32, l64], dtype=np.float64).tofile(f)
    np.concatenate(g32).astype(np.float32).tofile(f)
    np.concatenate(g64).astype(np.float64).tofile(f)
