#!/usr/bin/python3
"""Turn one benchmark run's raw outputs into the printed table and a JSON file.

    /usr/bin/python3 bench/report.py RUNDIR OUT.json

bench/run.sh writes into RUNDIR:
  cases.tsv        id, label, connections, threads, status ("ok" or why not), url
  wrk/<id>.txt     wrk --latency output of each case that ran
  wrk/<id>.answer  the first answer to the case's request (pre-flight check)
  facts.env        key=value lines (bench seconds, nginx mode, RSS, git, ...)
  startup_<m>.json output of bench/startup.py for model m

The goals are the project's performance budget (shared DESIGN.md); each is
checked here and printed next to the figure it is about.  Exit status: 0, or
1 when BENCH_STRICT=1 and a goal is not met (a missing figure counts as not
met).  Only the standard library is used.
"""
import datetime
import json
import os
import platform
import re
import sys

UNIT_US = {"us": 1.0, "ms": 1000.0, "s": 1e6, "m": 60e6, "h": 3600e6}
NGINX = "nginx_static_c64"

# Cases whose req/s is compared with nginx's: same connection count and a
# small body, so the ratio says how much of nginx's HTTP speed is kept.
RATIO_CASES = {"xgb_v1_c64", "xgb_v2json_c64", "skl_v1_c64"}


def parse_dur_us(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text.strip())
    return float(m.group(1)) * UNIT_US[m.group(2)] if m else None


def parse_wrk(text):
    r = {}
    m = re.search(r"Requests/sec:\s*([0-9.]+)", text)
    r["requests_per_sec"] = float(m.group(1)) if m else None
    for pct in ("50", "75", "90", "99"):
        m = re.search(r"^\s*%s%%\s+(\S+)\s*$" % pct, text, re.M)
        r["latency_p%s_us" % pct] = parse_dur_us(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in ([0-9.]+\w+), ([0-9.]+\w+) read", text)
    if m:
        r["requests"] = int(m.group(1))
        r["duration_us"] = parse_dur_us(m.group(2))
        r["read"] = m.group(3)
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    r["socket_errors"] = ({"connect": int(m.group(1)), "read": int(m.group(2)),
                           "write": int(m.group(3)), "timeout": int(m.group(4))} if m else None)
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    r["non_2xx"] = int(m.group(1)) if m else 0
    return r


def read_facts(path):
    facts = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if "=" in line:
                    k, v = line.split("=", 1)
                    facts[k] = v
    return facts


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fmt_us(v):
    if v is None:
        return "-"
    if v < 1000:
        return "%.0f µs" % v
    if v < 1e6:
        return "%.2f ms" % (v / 1000)
    return "%.2f s" % (v / 1e6)


def fmt_rps(v):
    return "-" if v is None else "{:,.0f}".format(v)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: report.py RUNDIR OUT.json\n")
        return 2
    rundir, out_path = argv[1], argv[2]
    facts = read_facts(os.path.join(rundir, "facts.env"))

    cases, order = {}, []
    with open(os.path.join(rundir, "cases.tsv")) as f:
        for line in f:
            cid, label, conns, threads, status, url = line.rstrip("\n").split("\t")
            c = {"label": label, "url": url, "connections": int(conns),
                 "threads": int(threads), "status": status}
            wrk_path = os.path.join(rundir, "wrk", cid + ".txt")
            if status == "ok" and os.path.exists(wrk_path):
                with open(wrk_path) as wf:
                    c.update(parse_wrk(wf.read()))
                errs = c.get("socket_errors") or {}
                if c.get("non_2xx") or any(errs.values()):
                    c["status"] = "errors: %d non-2xx, socket %s" % (c.get("non_2xx", 0), errs)
                elif c.get("requests_per_sec") is None:
                    c["status"] = "wrk output not understood"
            ans_path = os.path.join(rundir, "wrk", cid + ".answer")
            if os.path.exists(ans_path):
                with open(ans_path, "rb") as af:
                    c["sample_answer"] = af.read(300).decode("utf-8", "replace")
            cases[cid] = c
            order.append(cid)

    def rps(cid):
        c = cases.get(cid)
        return c.get("requests_per_sec") if c and c["status"] == "ok" else None

    def p50(cid):
        c = cases.get(cid)
        return c.get("latency_p50_us") if c and c["status"] == "ok" else None

    nginx_rps = rps(NGINX)
    for cid, c in cases.items():
        if cid in RATIO_CASES and nginx_rps and rps(cid) is not None:
            c["ratio_to_nginx"] = round(rps(cid) / nginx_rps, 3)
        elif cid == NGINX and nginx_rps:
            c["ratio_to_nginx"] = 1.0

    def ratio(a, b):
        return a / b if a is not None and b else None

    # RSS and start-up figures
    def num(key):
        v = facts.get(key, "")
        try:
            return float(v)
        except ValueError:
            return None

    rss = {"pid_vmrss_kb": num("xgb_rss_kb"), "pid_vmhwm_kb": num("xgb_hwm_kb"),
           "session_rss_kb": num("xgb_session_rss_kb"),
           "idle_vmrss_kb": num("xgb_rss_idle_kb"),
           "sklearn_pid_vmrss_kb": num("skl_rss_kb"),
           "sklearn_session_rss_kb": num("skl_session_rss_kb")}
    rss_mb = rss["session_rss_kb"] / 1024 if rss["session_rss_kb"] else None
    startup = {m: read_json(os.path.join(rundir, "startup_%s.json" % m))
               for m in ("xgboost", "sklearn")}
    st_x = (startup["xgboost"] or {}).get("median_ms")

    # Goals: (where, text, measured, met)
    goals = []

    def goal(where, text, measured, met):
        goals.append({"case": where, "goal": text, "measured": measured,
                      "met": (bool(met) if measured is not None else None)})

    r = ratio(rps("xgb_v1_c64"), nginx_rps)
    goal("xgb_v1_c64", "≥ 0.30× nginx", r and round(r, 3), r is not None and r >= 0.30)
    v = p50("xgb_v1_c1")
    goal("xgb_v1_c1", "p50 ≤ 100 µs", v, v is not None and v <= 100)
    r = ratio(rps("xgb_v2json_c64"), rps("xgb_v1_c64"))
    goal("xgb_v2json_c64", "within 20 % of V1 (≥ 0.80×)", r and round(r, 3),
         r is not None and r >= 0.80)
    r = ratio(rps("xgb_v2bin_1000x4_c64"), rps("xgb_v2json_1000x4_c64"))
    goal("xgb_v2bin_1000x4_c64", "faster than JSON (> 1.00×)", r and round(r, 3),
         r is not None and r > 1.0)
    v = rps("skl_v1_c64")
    goal("skl_v1_c64", "≥ 8,000 req/s", v, v is not None and v >= 8000)
    goal("rss", "≤ 20 MB", rss_mb and round(rss_mb, 2), rss_mb is not None and rss_mb <= 20)
    goal("startup", "median ≤ 30 ms", st_x, st_x is not None and st_x <= 30)
    by_case = {g["case"]: g for g in goals}

    def mark(g):
        if g is None:
            return ""
        return {True: "ok  ", False: "MISS", None: "n/a "}[g["met"]] + " " + g["goal"]

    def goal_note(cid):
        g = by_case.get(cid)
        if g is None:
            return ""
        m = g["measured"]
        if cid == "xgb_v2json_c64" and m is not None:
            return mark(g) + " [%.2f× V1]" % m
        if cid == "xgb_v2bin_1000x4_c64" and m is not None:
            return mark(g) + " [%.2f× JSON]" % m
        return mark(g)

    # ---- print ----
    lines = []
    w = max([len(c["label"]) for c in cases.values()] + [24])
    head = "%-*s %11s %10s %10s %8s  %s" % (w, "case", "req/s", "p50", "p99", "×nginx", "goal")
    lines.append(head)
    lines.append("-" * (len(head) + 30))
    for cid in order:
        c = cases[cid]
        if c["status"] != "ok":
            lines.append("%-*s %s  %s" % (w, c["label"], "not measured: " + c["status"],
                                          mark(by_case.get(cid))))
            continue
        rt = c.get("ratio_to_nginx")
        lines.append("%-*s %11s %10s %10s %8s  %s" % (
            w, c["label"], fmt_rps(c.get("requests_per_sec")), fmt_us(c.get("latency_p50_us")),
            fmt_us(c.get("latency_p99_us")), "-" if rt is None else "%.2f" % rt, goal_note(cid)))
    g = by_case["rss"]
    rss_txt = ("-" if rss_mb is None else "%.1f MB (pid %.1f, peak %.1f)" % (
        rss_mb, (rss["pid_vmrss_kb"] or 0) / 1024, (rss["pid_vmhwm_kb"] or 0) / 1024))
    lines.append("%-*s %s  %s" % (w, "xgboost RSS after load", rss_txt, mark(g)))
    if rss["sklearn_session_rss_kb"]:
        lines.append("%-*s %.1f MB" % (w, "sklearn RSS after load",
                                       rss["sklearn_session_rss_kb"] / 1024))
    for m in ("xgboost", "sklearn"):
        s = startup[m]
        label = "%s start → ready" % m
        if not s:
            lines.append("%-*s %s" % (w, label, "not measured: " + facts.get("startup_%s" % m, "skipped")))
            continue
        txt = ("median %s, p95 %s (%d runs%s)" % (
            fmt_us(s["median_ms"] * 1000) if s["median_ms"] is not None else "-",
            fmt_us(s["p95_ms"] * 1000) if s["p95_ms"] is not None else "-",
            s["runs"], ", %d failed" % s["failures"] if s["failures"] else ""))
        lines.append("%-*s %s  %s" % (w, label, txt, mark(by_case["startup"]) if m == "xgboost" else ""))
    met = [g for g in goals if g["met"]]
    lines.append("")
    lines.append("goals met: %d of %d" % (len(met), len(goals)))
    try:
        load = float(facts.get("loadavg_start", "").split()[0])
    except (IndexError, ValueError):
        load = None
    if load is not None and load > 0.5:
        lines.append("note: load average %.2f at the start (%s at the end): other work was "
                     "using the cores, so every figure is lower than on an idle machine"
                     % (load, facts.get("loadavg_end", "?")))
    print("\n".join(lines))

    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": cpu_model(),
                 "loadavg_start": facts.get("loadavg_start"),
                 "loadavg_end": facts.get("loadavg_end")},
        "git": {"commit": facts.get("git_commit") or None, "dirty": facts.get("git_dirty") == "1"},
        "bench_seconds": num("bench_seconds"),
        "server_args": facts.get("server_args", ""),
        "nginx": {"mode": facts.get("nginx_mode"), "version": facts.get("nginx_version")},
        "wrk": facts.get("wrk_version"),
        "cases": cases,
        "rss": rss,
        "startup": startup,
        "goals": goals,
        "table": lines,
    }
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, out_path)
    print("results: %s" % out_path)
    if os.environ.get("BENCH_STRICT") == "1" and len(met) != len(goals):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
