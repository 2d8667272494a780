"""Samples of tokend's process over time, the growth rule, the table and the plot."""

import asyncio
import os
import shutil
import subprocess

CLK_TCK = os.sysconf("SC_CLK_TCK")


def read_proc(pid):
    """(RSS KiB, open descriptors, threads, CPU ticks) of a process, from /proc/<pid>."""
    rss = threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/stat") as f:
        # utime and stime: fields 14 and 15, counted after the ")" that ends
        # the command name (which may hold spaces).
        rest = f.read().rsplit(")", 1)[1].split()
    return rss, fds, threads, int(rest[11]) + int(rest[12])


class Sampler:
    """Reads tokend's /proc every `interval` seconds, with the soak's request counts at that moment."""

    def __init__(self, pid, stats, interval):
        self.pid = pid
        self.stats = stats
        self.interval = interval
        self.rows = []
        self.t0 = None

    def sample(self):
        loop = asyncio.get_running_loop()
        if self.t0 is None:
            self.t0 = loop.time()
        rss, fds, threads, ticks = read_proc(self.pid)
        s = self.stats
        self.rows.append({
            "t": loop.time() - self.t0, "rss_kib": rss, "fds": fds, "threads": threads, "ticks": ticks,
            "requests": s.requests(), "busy": sum(s.busy.values()), "failed": sum(s.failed.values()),
        })

    async def run(self, stop):
        loop = asyncio.get_running_loop()
        self.sample()
        next_t = loop.time() + self.interval
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, next_t - loop.time()))
            except TimeoutError:
                pass
            if stop.is_set():
                break  # the clients are stopping: what follows is no longer the workload
            self.sample()
            next_t += self.interval


def derived(rows):
    """Rows with the per-interval rates filled in: CPU % of one core and requests/s since the previous sample."""
    out = []
    prev = None
    for r in rows:
        r = dict(r)
        if prev is None or r["t"] <= prev["t"]:
            r["cpu_pct"] = 0.0
            r["rps"] = 0.0
        else:
            dt = r["t"] - prev["t"]
            r["cpu_pct"] = (r["ticks"] - prev["ticks"]) / CLK_TCK / dt * 100
            r["rps"] = (r["requests"] - prev["requests"]) / dt
        out.append(r)
        prev = r
    return out


class Growth:
    """The growth rule for one measure (see docs/benchmarks.md, "bench/soak").

    After the warm-up, the samples are cut into thirds by count; the measure
    keeps growing when its statistic over the last third exceeds the same
    statistic over the first third by more than `limit`. The statistic is the
    maximum for RSS and threads (high-water marks: memory that a workload
    needs once is taken once, so a steady server's peak stops rising) and the
    median for open descriptors (most of them are connections that open and
    close every second; the median is the typical count, which a leak raises
    and a momentary burst of connections does not). A measure that rises
    during the warm-up (caches, pools and buffers filling) and then holds
    passes; one that still climbs in the last third of the run fails.
    """

    def __init__(self, name, unit, values, limit, stat="max"):
        n = len(values)
        self.name, self.unit, self.limit, self.stat = name, unit, limit, stat
        self.enough = n >= 9  # at least 3 samples in each third
        third = n // 3
        f = max if stat == "max" else median
        self.first = f(values[:third]) if self.enough else 0
        self.last = f(values[n - third:]) if self.enough else 0
        self.growth = self.last - self.first

    def ok(self):
        return self.enough and self.growth <= self.limit

    def describe(self, fmt="{:.0f}"):
        if not self.enough:
            return f"{self.name}: too few samples after the warm-up to judge (need 9)"
        f = fmt.format
        unit = f" {self.unit}" if self.unit else ""
        return (f"{self.name} ({self.stat} of each third of the steady state): first {f(self.first)}{unit}, "
                f"last {f(self.last)}{unit}, {'+' if self.growth >= 0 else ''}{f(self.growth)}{unit} "
                f"(limit +{f(self.limit)}{unit})")


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def steady(rows, warmup):
    return [r for r in rows if r["t"] >= warmup]


def table_lines(rows, warmup, max_rows=30):
    """The samples as a text table, thinned to at most about `max_rows` rows (the last always kept)."""
    step = max(1, -(-len(rows) // max_rows))
    picked = [r for i, r in enumerate(rows) if i % step == 0 or i == len(rows) - 1]
    lines = [f"{'t s':>6} {'phase':<7} {'RSS MiB':>8} {'fds':>5} {'threads':>7} {'CPU %':>6} {'req/s':>7} "
             f"{'requests':>9} {'503 busy':>8} {'failed':>6}"]
    for r in picked:
        phase = "warm-up" if r["t"] < warmup else "steady"
        lines.append(f"{r['t']:6.0f} {phase:<7} {r['rss_kib'] / 1024:8.1f} {r['fds']:5d} {r['threads']:7d} "
                     f"{r['cpu_pct']:6.0f} {r['rps']:7.0f} {r['requests']:9d} {r['busy']:8d} {r['failed']:6d}")
    return lines


def write_tsv(rows, path):
    with open(path, "w") as f:
        f.write("t_s\trss_mib\tfds\tthreads\tcpu_pct\treq_per_s\trequests\tbusy_503\tfailed\n")
        for r in rows:
            f.write(f"{r['t']:.1f}\t{r['rss_kib'] / 1024:.2f}\t{r['fds']}\t{r['threads']}\t{r['cpu_pct']:.1f}\t"
                    f"{r['rps']:.1f}\t{r['requests']}\t{r['busy']}\t{r['failed']}\n")


def plot(tsv, png, title, warmup, thirds):
    """The PNG: RSS; descriptors and threads; requests/s, tokend's CPU and failures; the warm-up and thirds marked."""
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        return "gnuplot not found (scripts/install-deps.sh --bench installs gnuplot-nox)"
    marks = "\n".join(
        f"set arrow from {x:.1f}, graph 0 to {x:.1f}, graph 1 nohead dt 2 lc rgb '#888888'" for x in thirds)
    script = f"""
set terminal pngcairo size 1100,900 font 'Sans,10'
set output '{png}'
set datafile separator tab
set key top left opaque
set grid
set multiplot layout 3,1 title "{title}"
set object 1 rect from 0, graph 0 to {warmup:.1f}, graph 1 fc rgb '#eeeeee' fs solid noborder behind
{marks}
set lmargin 10
set rmargin 10
set ylabel 'RSS (MiB)'
set yrange [0:*]
plot '{tsv}' using 1:2 skip 1 with lines lw 2 lc rgb '#1f77b4' title 'RSS'
set ylabel 'count'
plot '{tsv}' using 1:3 skip 1 with lines lw 2 lc rgb '#d62728' title 'open descriptors', \\
     '{tsv}' using 1:4 skip 1 with lines lw 2 lc rgb '#2ca02c' title 'threads'
set xlabel 'seconds (grey: warm-up; dashed: thirds of the steady state)'
set ylabel 'requests/s'
set y2label 'CPU % of one core; failures'
set y2tics
set y2range [0:*]
plot '{tsv}' using 1:6 skip 1 with lines lw 2 lc rgb '#9467bd' title 'requests/s', \\
     '{tsv}' using 1:5 skip 1 axes x1y2 with lines lw 1 lc rgb '#ff7f0e' title 'tokend CPU %', \\
     '{tsv}' using 1:9 skip 1 axes x1y2 with steps lw 2 lc rgb '#000000' title 'failed (total)'
unset multiplot
"""
    r = subprocess.run([gnuplot], input=script, text=True, capture_output=True, timeout=60)
    if r.returncode != 0 or not os.path.exists(png):
        return f"gnuplot failed: {r.stderr.strip()[:300]}"
    return None
