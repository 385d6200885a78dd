"""Run commands, measuring wall time and peak resident memory of each (via wait4), and print a
side-by-side table. Used by the bench scripts; standard library only."""

import os
import subprocess
import sys
import time


def run(label, argv, env=None):
    """Runs argv, returns (label, seconds, peak MiB, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{label}: {' '.join(argv)} exited with {code}")
    return label, seconds, usage.ru_maxrss / 1024.0, out.decode()


def table(rows, baseline_label):
    base = next(r for r in rows if r[0] == baseline_label)
    print(f"{'system':<28}{'wall s':>10}{'peak MiB':>12}{'time ratio':>12}{'memory ratio':>14}")
    for label, seconds, mib, _ in rows:
        print(
            f"{label:<28}{seconds:>10.2f}{mib:>12.0f}"
            f"{seconds / base[1]:>12.2f}{mib / base[2]:>14.2f}"
        )
