"""Independent reference for test/61.optim: torch.optim.SGD trajectories and torch's
learning-rate schedulers. Reads a JSON request on stdin, prints a JSON answer.
{"sgd": [{"lr", "momentum", "nesterov", "weight_decay", "w": [...], "grads": [[...], ...]}],
 "schedules": [{"kind": "OneCycleLR"|"CosineAnnealingLR"|"StepLR"|"MultiStepLR", "args": {...}, "steps": N}]}
-> {"sgd": [final w as float64 list], "schedules": [[lr at step 0..N-1]]}"""
import json, sys
import torch

req = json.load(sys.stdin)
out = {"sgd": [], "schedules": []}
for c in req.get("sgd", []):
    w = torch.nn.Parameter(torch.tensor(c["w"], dtype=torch.float32))
    opt = torch.optim.SGD([w], lr=c["lr"], momentum=c["momentum"], nesterov=c["nesterov"], weight_decay=c["weight_decay"])
    for g in c["grads"]:
        w.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
    out["sgd"].append([float(v) for v in w.detach()])
for s in req.get("schedules", []):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=s["args"].pop("lr", 0.1))
    sched = getattr(torch.optim.lr_scheduler, s["kind"])(opt, **s["args"])
    lrs = []
    for _ in range(s["steps"]):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    out["schedules"].append(lrs)
print(json.dumps(out))
