#!/usr/bin/env python3
"""A/B of two builds of a kernels example that prints `dense/sparse N.NNx` lines (e.g.
`benches/examples/spmm_ab.rs`): runs BIN_A and BIN_B alternately (the order flips each round) and
prints per case the median over processes of each ratio and B/A. Timings are ratios, never pass/fail.

    scripts/ab-examples.py ROUNDS BIN_A BIN_B [example args...]
"""
import subprocess, sys, re, statistics, collections
rounds=int(sys.argv[1]); bins=sys.argv[2:4]; args=sys.argv[4:]
res=collections.defaultdict(lambda: collections.defaultdict(list))
for r in range(rounds):
    for bi,b in enumerate(bins if r%2==0 else bins[::-1]):
        out=subprocess.run([b]+args,capture_output=True,text=True).stdout
        for line in out.splitlines():
            mm=re.match(r'\s*(\d+)x\s*(\d+)x\s*(\d+) (\S+) .*dense/sparse ([\d.]+)x',line)
            if mm: res[mm.group(1)+'x'+mm.group(2)+'x'+mm.group(3)+' '+mm.group(4)][b].append(float(mm.group(5)))
for case,d in res.items():
    a=statistics.median(d[bins[0]]); bb=statistics.median(d[bins[1]])
    print(f"{case:22} A {a:.2f}x  B {bb:.2f}x   B/A {bb/a:.3f}   (A {sorted(d[bins[0]])}, B {sorted(d[bins[1]])})")
