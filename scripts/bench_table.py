#!/usr/bin/env python3
"""Prints scripts/bench.sh's tables from the generator's JSON lines (and the PAM result).

usage: bench_table.py RESULTS.jsonl [PAM.json]

Each line of RESULTS.jsonl is one sparekey-bench run whose label is PHASE/SERVER/MIX.
"""
import json
import sys

MIXES = [
    ("accept", "accept (valid multi-use code)"),
    ("wrong", "wrong code (counted)"),
    ("unknown", "unknown user"),
    ("locked", "wrong code, user locked out"),
]
SERVERS = [("freeradius", "FreeRADIUS"), ("sparekeyd", "sparekeyd"), ("sparekeyd-pg", "sk on PG")]


def load(path):
    runs = {}
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        parts = r.get("label", "").split("/")
        if len(parts) == 3:
            runs[tuple(parts)] = r
    return runs


def num(x, fmt="{:.0f}"):
    return "-" if x is None else fmt.format(x)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def problems(r):
    bad = []
    if r.get("lost_in_warmup"):
        bad.append(f"{r['lost_in_warmup']} lost in the warm-up")
    for k in ("invalid", "unexpected_verdict", "send_errors"):
        if r.get(k):
            bad.append(f"{r[k]} {k.replace('_', ' ')}")
    if r.get("rebuilt"):
        bad.append(f"{r['rebuilt']} rebuilt")
    if r.get("behind_schedule"):
        bad.append(f"generator behind schedule {r['behind_schedule']}x")
    return ", ".join(bad)


def main():
    runs = load(sys.argv[1])
    out = []
    w = out.append

    w("Throughput (closed loop, 128 in flight), p99 latency, server CPU per request; 1,000 credentials")
    w("")
    head = f"{'mix':<30} {'server':<11} {'req/s':>8} {'p50 us':>8} {'p99 us':>8} {'lost':>6} {'CPU us/req':>10} {'cores':>6} {'gen us/req':>10}"
    w(head)
    w("-" * len(head))
    ratios = []
    for mix, name in MIXES:
        got = {}
        for key, sname in SERVERS:
            r = runs.get(("base", key, mix))
            if not r:
                continue
            got[key] = r
            note = problems(r)
            w(
                f"{name:<30} {sname:<11} {num(r['requests_per_s']):>8} {num(r['latency_us']['p50']):>8} "
                f"{num(r['latency_us']['p99']):>8} {r['lost']:>6} {num(r['server_cpu_us_per_req'], '{:.1f}'):>10} "
                f"{num(r['server_cores'], '{:.2f}'):>6} {num(r['generator_cpu_us_per_req'], '{:.1f}'):>10}"
                + (f"  [{note}]" if note else "")
            )
        if "freeradius" in got and "sparekeyd" in got:
            f, s = got["freeradius"], got["sparekeyd"]
            ratios.append(
                (
                    name,
                    ratio(s["requests_per_s"], f["requests_per_s"]),
                    ratio(s["latency_us"]["p99"], f["latency_us"]["p99"]),
                    ratio(s["server_cpu_us_per_req"], f["server_cpu_us_per_req"]),
                )
            )
    w("(lost: no reply within 1 s; sparekeyd.log in the results says why, e.g. its duplicate cache was full)")
    w("(sk on PG: sparekeyd with its store in PostgreSQL 15 on loopback, one node, the same store imported)")
    w("")
    pg_rows = []
    for mix, name in MIXES:
        s, g = runs.get(("base", "sparekeyd", mix)), runs.get(("base", "sparekeyd-pg", mix))
        if s and g:
            pg_rows.append((mix, name, ratio(g["requests_per_s"], s["requests_per_s"]),
                            ratio(g["server_cpu_us_per_req"], s["server_cpu_us_per_req"])))
    if pg_rows:
        w("sparekeyd on PostgreSQL / on SQLite (target: an uncapped accept's CPU per request <= 1.2)")
        w("")
        head = f"{'mix':<30} {'throughput':>10} {'CPU/req':>8}  verdict"
        w(head)
        w("-" * len(head))
        for mix, name, t, c in pg_rows:
            verdict = ""
            if mix == "accept":
                verdict = "meets the target" if c is not None and c <= 1.2 else "MISSES the target"
            w(f"{name:<30} {num(t, '{:.2f}'):>10} {num(c, '{:.2f}'):>8}  {verdict}")
        w("")
    once = [
        ("SQLite, one node", [runs.get(("base", "sparekeyd", "once"))]),
        ("PostgreSQL, one node", [runs.get(("base", "sparekeyd-pg", "once"))]),
        ("PostgreSQL, two nodes", [runs.get(("twonodes", "sparekeyd-pg", "once")),
                                   runs.get(("twonodes", "sparekeyd-pg-b", "once"))]),
    ]
    if any(all(rs) for _, rs in once):
        w("Single-use redemptions: every code sent once, 32 in flight per node, each answer an accept")
        w("(two nodes: one generator per node at the same time, each on its own half of the users)")
        w("")
        head = f"{'store':<24} {'codes':>6} {'redeemed/s':>10} {'p50 us':>8} {'p99 us':>8} {'lost':>6} {'CPU us/req':>10}"
        w(head)
        w("-" * len(head))
        for name, rs in once:
            if not all(rs):
                continue
            accepts = sum(r["accepts"] for r in rs)
            elapsed = max(r["elapsed_s"] for r in rs)
            lost = sum(r["lost"] for r in rs)
            cpu = [r["server_cpu_us_per_req"] for r in rs if r["server_cpu_us_per_req"] is not None]
            note = ", ".join(filter(None, (problems(r) for r in rs)))
            w(
                f"{name:<24} {sum(r['sent'] for r in rs):>6} {num(accepts / elapsed if elapsed else None):>10} "
                f"{num(max(r['latency_us']['p50'] for r in rs)):>8} {num(max(r['latency_us']['p99'] for r in rs)):>8} "
                f"{lost:>6} {num(sum(cpu) / len(cpu) if cpu else None, '{:.1f}'):>10}"
                + (f"  [{note}]" if note else "")
            )
        w("(two nodes: p50 and p99 the larger of the two nodes', CPU the mean of the two processes')")
        w("")
    props = [(k, runs.get(("propagation", "pg", k))) for k in ("issue", "lockout", "unlock", "revoke")]
    if any(r for _, r in props):
        w("Propagation: a change through node A's admin socket or RADIUS, seen in node B's answers")
        w("(from A's answer to B's first answer that shows it; B asked again at once; target: 100 ms)")
        w("")
        head = f"{'change':<10} {'trials':>6} {'p50 us':>8} {'max us':>8} {'stale':>6}  verdict"
        w(head)
        w("-" * len(head))
        for k, r in props:
            if not r:
                continue
            ok = r["trials"] > 0 and r["max_us"] <= 100_000
            w(f"{k:<10} {r['trials']:>6} {num(r['p50_us']):>8} {num(r['max_us']):>8} {r['stale']:>6}  {'meets' if ok else 'MISSES'} the target")
        w("")
    ch = runs.get(("challenge", "sparekeyd", "login"))
    if ch:
        w("Challenge mode: logins of two rounds (password through PAM with pam_permit, then the code with the State), 8 at a time (informational)")
        w("")
        head = f"{'logins/s':>9} {'p50 us':>8} {'p99 us':>8} {'failed':>7} {'CPU us/login':>13}"
        w(head)
        w("-" * len(head))
        w(f"{num(ch['logins_per_s']):>9} {num(ch['latency_us']['p50']):>8} {num(ch['latency_us']['p99']):>8} {ch['failures']:>7} {num(ch['server_cpu_us_per_login'], '{:.1f}'):>13}")
        w("")
    w("sparekeyd / FreeRADIUS (targets: throughput >= 2, CPU per request <= 0.25)")
    w("")
    head = f"{'mix':<30} {'throughput':>10} {'p99':>8} {'CPU/req':>8}  verdict"
    w(head)
    w("-" * len(head))
    for name, t, p, c in ratios:
        ok = t is not None and c is not None and t >= 2 and c <= 0.25
        w(f"{name:<30} {num(t, '{:.2f}'):>10} {num(p, '{:.2f}'):>8} {num(c, '{:.2f}'):>8}  {'meets' if ok else 'MISSES'} the targets")

    bf, bs = runs.get(("burst", "freeradius", "accept")), runs.get(("burst", "sparekeyd", "accept"))
    if bf or bs:
        w("")
        w("Capacity: 50,000 accepts in one closed-loop burst, 128 in flight (under sparekeyd's duplicate-cache limit)")
        w("")
        head = f"{'server':<11} {'req/s':>8} {'p99 us':>8} {'lost':>6} {'CPU us/req':>10} {'cores':>6} {'gen us/req':>10}"
        w(head)
        w("-" * len(head))
        for sname, r in (("FreeRADIUS", bf), ("sparekeyd", bs)):
            if r:
                note = problems(r)
                w(
                    f"{sname:<11} {num(r['requests_per_s']):>8} {num(r['latency_us']['p99']):>8} {r['lost']:>6} "
                    f"{num(r['server_cpu_us_per_req'], '{:.1f}'):>10} {num(r['server_cores'], '{:.2f}'):>6} "
                    f"{num(r['generator_cpu_us_per_req'], '{:.1f}'):>10}"
                    + (f"  [{note}]" if note else "")
                )
        if bf and bs:
            t = ratio(bs["requests_per_s"], bf["requests_per_s"])
            c = ratio(bs["server_cpu_us_per_req"], bf["server_cpu_us_per_req"])
            w(f"sparekeyd / FreeRADIUS: throughput {num(t, '{:.2f}')}, CPU per request {num(c, '{:.2f}')}")

    w("")
    w("Open loop at 80% of each server's peak accept rate (target for sparekeyd: p99 < 1 ms, nothing lost)")
    w("")
    head = f"{'server':<11} {'rate/s':>8} {'req/s':>8} {'p50 us':>8} {'p99 us':>8} {'max us':>8} {'lost':>6} {'CPU us/req':>10}"
    w(head)
    w("-" * len(head))
    for key, sname in SERVERS:
        r = runs.get(("rate80", key, "accept"))
        if r:
            note = problems(r)
            w(
                f"{sname:<11} {num(r['rate_target']):>8} {num(r['requests_per_s']):>8} {num(r['latency_us']['p50']):>8} "
                f"{num(r['latency_us']['p99']):>8} {num(r['latency_us']['max']):>8} {r['lost']:>6} "
                f"{num(r['server_cpu_us_per_req'], '{:.1f}'):>10}"
                + (f"  [{note}]" if note else "")
            )

    base = runs.get(("floodbase", "sparekeyd", "accept"))
    floods = []
    for pct in (25, 50):
        under = runs.get((f"floodaccept{pct}", "sparekeyd", "accept"))
        flood = runs.get((f"flood{pct}", "sparekeyd", "locked"))
        if under and flood:
            floods.append((pct, under, flood))
    if base and floods:
        w("")
        w("Lockout flood: other users' accepts (open loop) without and with a flood of wrong codes for one locked-out user")
        w("")
        head = (
            f"{'accepts':<34} {'rate/s':>8} {'p50 us':>8} {'p99 us':>8} {'max us':>8} {'lost':>6}"
            f"  {'flood/s':>8} {'flood p99':>9} {'server cores':>12}"
        )
        w(head)
        w("-" * len(head))
        rows = [("alone", base, None)] + [
            (f"during a flood at {pct}% of the peak", under, flood) for pct, under, flood in floods
        ]
        for label, r, flood in rows:
            tail = ""
            if flood:
                tail = (
                    f"  {num(flood['requests_per_s']):>8} {num(flood['latency_us']['p99']):>9} "
                    f"{num(flood['server_cores'], '{:.2f}'):>12}"
                )
            w(
                f"{label:<34} {num(r['rate_target']):>8} {num(r['latency_us']['p50']):>8} {num(r['latency_us']['p99']):>8} "
                f"{num(r['latency_us']['max']):>8} {r['lost']:>6}" + tail
                + (f"  [{problems(r)}]" if problems(r) else "")
            )
        w("(server cores: sparekeyd's CPU time over the flood's wall time, the accepts included)")

    small = {m: runs.get(("scale1k", "sparekeyd", m)) for m, _ in MIXES}
    large = {m: runs.get(("scale1m", "sparekeyd", m)) for m, _ in MIXES}
    if any(large.values()):
        w("")
        w("Scale: sparekeyd with 1,000 and with 1,000,000 credentials, open loop 5,000/s with at most 8 in flight (target: CPU ratio <= 1.5)")
        w("(CPU us/req from /proc/PID/task/*/schedstat, nanosecond resolution; 'sent' where nothing was answered)")
        w("")
        head = f"{'mix':<30} {'req/s 1k':>9} {'req/s 1M':>9} {'p99 1k':>8} {'p99 1M':>8} {'lost 1M':>7} {'CPU 1k':>8} {'CPU 1M':>8} {'ratio':>6}"
        w(head)
        w("-" * len(head))
        for mix, name in MIXES:
            a, b = small.get(mix), large.get(mix)
            if not (a and b):
                continue
            # CPU per answered request, from schedstat (these runs use little CPU, and
            # /proc/PID/stat counts 10 ms ticks); per request sent when none was answered.
            def cpu(r):
                return r.get("server_cpu_sched_us_per_req") or r["server_cpu_us_per_req"] or r.get("server_cpu_us_per_sent")

            cpu_a, cpu_b = cpu(a), cpu(b)
            c = ratio(cpu_b, cpu_a)
            ok = c is not None and c <= 1.5
            w(
                f"{name:<30} {num(a['requests_per_s']):>9} {num(b['requests_per_s']):>9} "
                f"{num(a['latency_us']['p99']):>8} {num(b['latency_us']['p99']):>8} {b['lost']:>7} "
                f"{num(cpu_a, '{:.1f}'):>8} {num(cpu_b, '{:.1f}'):>8} {num(c, '{:.2f}'):>6}"
                + ("" if ok else "  MISSES")
                + "".join(f"  [{k}: {problems(r)}]" for k, r in (("1k", a), ("1M", b)) if problems(r))
            )

    if len(sys.argv) > 2:
        try:
            pam = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
        except (OSError, ValueError):
            pam = []
        warm = [r for r in pam if not r.get("label", "").startswith("cold")]
        cold = [r for r in pam if r.get("label", "").startswith("cold")]
        if warm:
            w("")
            w(f"PAM, {warm[0]['iterations']} authentications each in one process, 100,000 credentials (target: added median <= 300 us)")
            w("")
            head = (
                f"{'policy file':<44} {'permit p50':>10} {'module p50':>10} {'module p99':>10} "
                f"{'added p50':>9}  verdict"
            )
            w(head)
            w("-" * len(head))
            for r in warm:
                added = r["added_median_us"]
                w(
                    f"{r.get('label', ''):<44} {r['baseline_us']['p50']:>10.0f} {r['module_us']['p50']:>10.0f} "
                    f"{r['module_us']['p99']:>10.0f} {added:>9.0f}  {'meets' if added <= 300 else 'MISSES'} the target"
                )
        if cold:
            def median(v):
                v = sorted(v)
                return v[len(v) // 2]
            module = median([r["first_module_us"] for r in cold])
            permit = median([r["first_baseline_us"] for r in cold])
            w("")
            w(
                f"First authentication in a new process ({len(cold)} processes, {cold[0]['label'][5:]}): "
                f"pam_permit {permit:.0f} us, pam_sparekey {module:.0f} us (medians); "
                f"the module's load is in this figure, not in the rows above"
            )
    print("\n".join(out))


if __name__ == "__main__":
    main()
