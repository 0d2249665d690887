#!/usr/bin/python3
"""Cold start through the activator: one request to a revision scaled to zero.

    /usr/bin/python3 bench/coldstart.py [--trials 20] [--kserve build/kserve] [--keep]

Starts its own `kserve up` (temporary home, free loopback port, 6 s stable
window and scale-to-zero grace period), applies an xgboost-iris
InferenceService with minReplicas 0, then for each trial:

  1. waits until the revision is at zero (replicaCounts 0/0/0, no replica in
     status, the previous replica's process gone);
  2. opens a connection to the ingress, then times one V1 predict
     (time.perf_counter around send -> whole answer read): the activator holds
     it, pokes the autoscaler, a replica starts and the request goes on;
  3. reads the new replica's own start -> ready figure from its log
     ("... ready on HOST:PORT in X ms").

Prints each trial, then min / median / p95 / max of both, and the median of
20 warm requests for comparison.  Every wait is bounded; the daemon (and so
every replica) is stopped on exit.  Not a test: nothing is asserted about
speed, but a non-200 answer is reported and makes the exit status 1.

Environment: KSERVE_BIN (default build/kserve), COLDSTART_TRIALS.
"""
import argparse
import glob
import http.client
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = "/usr/bin/python3"
NAME = "xgb-cold"
ROWS = [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]
READY_RE = re.compile(r"ready on \S+ in ([\d.]+) ms")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values, p):
    """Nearest-rank percentile."""
    v = sorted(values)
    return v[max(0, math.ceil(p / 100.0 * len(v)) - 1)]


class Bench:
    def __init__(self, kserve, keep):
        self.kserve = kserve
        self.keep = keep
        self.tmp = tempfile.mkdtemp(prefix="kserve-bench-coldstart.")
        self.home = os.path.join(self.tmp, "home")
        self.port = free_port()
        self.daemon = None
        self.env = dict(os.environ, KSERVE_HOME=self.home)

    def cli(self, *args, timeout=30):
        return subprocess.run([self.kserve, *args], capture_output=True, text=True, timeout=timeout,
                              env=self.env, check=False)

    def get(self):
        p = self.cli("get", "isvc", NAME, "-o", "json")
        if p.returncode != 0:
            raise RuntimeError("kserve get: %s" % p.stderr.strip())
        return json.loads(p.stdout)

    def wait(self, what, fn, timeout):
        deadline = time.monotonic() + timeout
        while True:
            v = fn()
            if v:
                return v
            if time.monotonic() > deadline:
                raise RuntimeError("timed out after %.0fs waiting for %s" % (timeout, what))
            time.sleep(0.1)

    def start(self):
        subprocess.run([PY, os.path.join(ROOT, "tests", "tools", "train_models.py"), os.path.join(self.tmp, "models"),
                        "xgboost-iris"], check=True, timeout=300, stdout=subprocess.DEVNULL)
        cfg = os.path.join(self.tmp, "autoscaler.yaml")
        with open(cfg, "w") as f:
            f.write("stable-window: 6s\nscale-to-zero-grace-period: 6s\n")
        log = open(os.path.join(self.tmp, "daemon.log"), "wb")
        self.daemon = subprocess.Popen([self.kserve, "up", "--home", self.home, "--ingress-port", str(self.port),
                                        "--autoscaler-config", cfg], stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        log.close()
        self.wait("the daemon's API", lambda: self.daemon.poll() is None and
                  os.path.exists(os.path.join(self.home, "api.sock")) and self.cli("get", "isvc").returncode == 0,
                  30)
        isvc = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                "metadata": {"name": NAME},
                "spec": {"predictor": {"minReplicas": 0, "model": {
                    "modelFormat": {"name": "xgboost"},
                    "storageUri": "file://" + os.path.join(self.tmp, "models", "xgboost-iris")}}}}
        path = os.path.join(self.tmp, "isvc.json")
        with open(path, "w") as f:
            json.dump(isvc, f)
        p = self.cli("apply", "-f", path)
        if p.returncode != 0:
            raise RuntimeError("kserve apply: %s" % p.stderr)
        p = self.cli("wait", "isvc", NAME, "--for=condition=Ready", "--timeout=60s", timeout=70)
        if p.returncode != 0:
            raise RuntimeError("not Ready: %s" % p.stderr)

    def stop(self):
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.daemon.pid, signal.SIGKILL)
                self.daemon.wait(timeout=10)
        if self.keep:
            print("kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def at_zero(self, old_pids):
        obj = self.get()
        c = obj["status"].get("components", {}).get("predictor", {}).get("replicaCounts") or {}
        gone = all(not os.path.exists("/proc/%d" % p) for p in old_pids)
        return c.get("actual") == 0 and c.get("ready") == 0 and not obj["status"].get("replicas") and gone

    def request(self, conn):
        body = json.dumps({"instances": ROWS})
        t0 = time.perf_counter()
        conn.request("POST", "/v1/models/%s:predict" % NAME, body=body,
                     headers={"Host": "%s.default.example.com" % NAME, "Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        return time.perf_counter() - t0, r.status, data

    def replica_logs(self):
        return set(glob.glob(os.path.join(self.home, "logs", "default", "*", "*.log")))

    def explain_outliers(self, walls, median_s_ms):
        """For a trial 10x slower than the median: the daemon's trace and decisions around it."""
        slow = [(w, s) for w, s in walls if s * 1000 > max(10 * median_s_ms, 100)]
        if not slow:
            return
        trace = self.cli("autoscaler", "record", "isvc", NAME).stdout.splitlines()
        dec = self.cli("autoscaler", "record", "isvc", NAME, "--decisions").stdout.splitlines()
        for w, s in slow:
            print("\nslow trial: request at Unix %.3f took %.1f ms; the autoscaler around it:" % (w, s * 1000))
            for line in trace + dec:
                try:
                    t = json.loads(line).get("t")
                except ValueError:
                    continue
                if t is not None and w - 4 <= t <= w + s + 3:
                    print("  " + line)

    def run(self, trials):
        cold, startup, failures, walls = [], [], 0, []
        pids = []
        print("trial  cold request (ms)  replica start->ready (ms)  waited for zero (s)")
        for i in range(1, trials + 1):
            t = time.monotonic()
            self.wait("scale to zero", lambda: self.at_zero(pids), 90)
            waited = time.monotonic() - t
            before = self.replica_logs()
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            conn.connect()
            wall = time.time()
            secs, status, data = self.request(conn)
            conn.close()
            if status != 200 or len(json.loads(data).get("predictions", [])) != len(ROWS):
                failures += 1
                print("%5d  answer %d %r" % (i, status, data[:200]))
                continue
            cold.append(secs * 1000)
            # the new replica's own figure (its log may take a moment to show the line)
            ready_ms = None
            deadline = time.monotonic() + 5
            while ready_ms is None and time.monotonic() < deadline:
                for path in self.replica_logs() - before:
                    with open(path, errors="replace") as f:
                        m = READY_RE.search(f.read())
                    if m:
                        ready_ms = float(m.group(1))
                if ready_ms is None:
                    time.sleep(0.05)
            if ready_ms is not None:
                startup.append(ready_ms)
            walls.append((wall, secs))
            obj = self.get()
            pids = [r["pid"] for r in obj["status"].get("replicas") or [] if r.get("pid")]
            print("%5d  %17.2f  %25s  %19.1f" % (i, secs * 1000, "%.1f" % ready_ms if ready_ms is not None else "-",
                                                 waited))
            sys.stdout.flush()
        warm = []
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        for _ in range(20):
            secs, status, _ = self.request(conn)
            if status == 200:
                warm.append(secs * 1000)
        conn.close()
        print()
        for label, v in (("cold request through the activator (ms)", cold),
                         ("replica start->ready, its own log (ms)", startup),
                         ("warm request, same connection (ms)", warm)):
            if v:
                print("%-42s n=%-3d min %7.2f  median %7.2f  p95 %7.2f  max %7.2f" % (
                    label, len(v), min(v), statistics.median(v), pct(v, 95), max(v)))
        print("load average %s; %d failed trial(s)" % (open("/proc/loadavg").read().split()[0], failures))
        self.explain_outliers(walls, statistics.median(cold) if cold else 0)
        return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=int(os.environ.get("COLDSTART_TRIALS", "20")))
    ap.add_argument("--kserve", default=os.environ.get("KSERVE_BIN") or os.path.join(ROOT, "build", "kserve"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (daemon and replica logs)")
    a = ap.parse_args()
    if not os.path.exists(a.kserve):
        print("no kserve binary at %s (make, or set KSERVE_BIN)" % a.kserve, file=sys.stderr)
        return 2
    b = Bench(os.path.abspath(a.kserve), a.keep)
    try:
        b.start()
        return 1 if b.run(max(1, a.trials)) else 0
    finally:
        b.stop()


if __name__ == "__main__":
    sys.exit(main())
