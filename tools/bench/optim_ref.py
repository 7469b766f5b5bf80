#!/usr/bin/python3
# optim_ref.py — prints the PyTorch 1.13 reference values that
# tests/c/test_optim.c (RMSprop, grad_clip, OneCycleLR, LinearLR,
# ReduceLROnPlateau) and tests/c/test_loss.c (BCEWithLogitsLoss pos_weight,
# HuberLoss) compare against. Needs /usr/bin/python3 with torch; the tests
# do not.
import torch, math
torch.set_default_dtype(torch.float32)
W0=[0.5,-0.25,1.0,0.75,-1.5,0.125]; B0=[0.1,-0.2,0.3]
def G(s,pi,n): return torch.tensor([math.sin(0.7*i+1.3*s+pi)*(1+pi) for i in range(n)],dtype=torch.float32)
def fmt(t): return "{ "+", ".join("%.9gf"%v for v in t.flatten().tolist())+" }"
def run(name, mk, steps, sched=None, clip=None, wd=0.0):
    w=torch.tensor(W0).reshape(3,2).requires_grad_(); b=torch.tensor(B0).requires_grad_()
    opt=mk([{"params":[w],"weight_decay":wd},{"params":[b],"weight_decay":0.0}])
    sc=sched(opt) if sched else None
    lrs=[]
    for s in range(steps):
        w.grad=G(s,0,6).reshape(3,2).clone(); b.grad=G(s,1,3).clone()
        if clip: torch.nn.utils.clip_grad_norm_([w,b], clip)
        lrs.append(opt.param_groups[0]['lr'])
        opt.step()
        if sc: sc.step()
    print("//", name)
    print("w", fmt(w.detach())); print("b", fmt(b.detach()))
    for p in (w,b):
        for k,v in opt.state[p].items():
            if torch.is_tensor(v) and v.numel()>1: print(" ", k, fmt(v))
    print(" lrs", ["%.17g"%x for x in lrs])
    return lrs
O=torch.optim
run("rmsprop", lambda g: O.RMSprop(g, lr=0.01), 4, wd=0.01)
run("rmsprop momentum centered", lambda g: O.RMSprop(g, lr=0.01, alpha=0.9, eps=1e-6, momentum=0.5, centered=True), 4, wd=0.05)
run("sgd clip", lambda g: O.SGD(g, lr=0.1, momentum=0.9), 4, clip=0.5, wd=0.01)
run("adam onecycle", lambda g: O.Adam(g, lr=0.01), 6, sched=lambda o: O.lr_scheduler.OneCycleLR(o, max_lr=0.05, total_steps=6), wd=0.0)
run("sgd onecycle linear three_phase", lambda g: O.SGD(g, lr=0.01, momentum=0.9), 8, sched=lambda o: O.lr_scheduler.OneCycleLR(o, max_lr=0.2, total_steps=8, pct_start=0.25, anneal_strategy='linear', three_phase=True, div_factor=10, final_div_factor=100), wd=0.0)
# onecycle lr/momentum sequence on SGD over 10 steps
w=torch.zeros(1,requires_grad=True); o=O.SGD([w], lr=0.1, momentum=0.9)
sc=O.lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=10)
lr=[];mo=[]
for s in range(10):
    lr.append(o.param_groups[0]['lr']); mo.append(o.param_groups[0]['momentum']); w.grad=torch.ones(1); o.step(); sc.step()
print("onecycle10 lr", ", ".join("%.17g"%x for x in lr)); print("onecycle10 mom", ", ".join("%.17g"%x for x in mo))
# LinearLR
w=torch.zeros(1,requires_grad=True); o=O.SGD([w], lr=0.5)
sc=O.lr_scheduler.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=3)
lr=[]
for e in range(6): lr.append(o.param_groups[0]['lr']); o.step(); sc.step()
print("linearlr", ", ".join("%.17g"%x for x in lr))
# Plateau
for mode,tm,vals in (("min","rel",[1.0,0.9,0.95,0.95,0.95,0.89,0.9,0.9,0.9,0.9,0.9,0.9]),("max","abs",[0.5,0.6,0.6,0.6,0.7,0.7,0.7,0.7,0.7])):
    w=torch.zeros(1,requires_grad=True); o=O.SGD([w], lr=1.0)
    sc=O.lr_scheduler.ReduceLROnPlateau(o, mode=mode, factor=0.5, patience=1, threshold=0.05 if tm=="rel" else 0.01, threshold_mode=tm, cooldown=1, min_lr=0.1)
    lr=[]
    for v in vals: o.step(); sc.step(v); lr.append(o.param_groups[0]['lr'])
    print("plateau", mode, tm, ", ".join("%.17g"%x for x in lr))
# losses
x=torch.tensor([[-3.0],[-0.5],[0.0],[0.7],[4.0],[20.0]],requires_grad=True); t=torch.tensor([[0.],[1.],[1.],[0.],[1.],[0.]])
l=torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([2.5]))(x,t); l.backward()
print("bce pw loss %.17g"%l.item(), "grad", fmt(x.grad))
x=torch.tensor([[-3.0,0.2],[-0.5,1.0],[0.0,2.0]],requires_grad=True); t=torch.tensor([[0.,0.],[1.,-1.],[1.5,0.5]])
l=torch.nn.HuberLoss(delta=1.5)(x,t); l.backward()
print("huber loss %.17g"%l.item(), "grad", fmt(x.grad))
