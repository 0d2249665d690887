#!/usr/bin/python3
"""Measure a model server's time from process start to ready.

    /usr/bin/python3 bench/startup.py --bin build/kserve --model-name NAME \
        --model-dir DIR [--runs 20] [--timeout 10] [--log FILE] [-- EXTRA ARGS...]

Each run picks a free loopback port, spawns
`BIN model-server --model_name NAME --model_dir DIR --http_host 127.0.0.1
--http_port PORT EXTRA...`
in a new session, and polls GET /v2/health/ready over a raw socket about
every 0.2 ms until the answer's status line says 200.  The time from just
before the spawn to that answer is one sample.  The server's session is then
sent SIGTERM and waited for (SIGKILL after 5 s), before the next run.

Prints one JSON object on stdout: samples_ms, median_ms, p95_ms, min_ms,
max_ms, runs, failures.  Only the standard library is used.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time

POLL_S = 0.0002
REQUEST = (b"GET /v2/health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           b"Connection: close\r\n\r\n")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready_status(port):
    """Return the HTTP status of one GET /v2/health/ready, or None when the
    port does not answer (refused, reset, or an incomplete status line)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(REQUEST)
        buf = b""
        while b"\r\n" not in buf and len(buf) < 256:
            chunk = s.recv(256)
            if not chunk:
                break
            buf += chunk
        parts = buf.split(b" ", 2)
        if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
            return int(parts[1])
        return None
    except OSError:
        return None
    finally:
        s.close()


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)
    # workers left in the session after the leader exited
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def one_run(args, log):
    port = free_port()
    cmd = [args.bin, "model-server", "--model_name", args.model_name,
           "--model_dir", args.model_dir, "--http_host", "127.0.0.1",
           "--http_port", str(port)] + args.extra
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True, close_fds=True)
    deadline = t0 + args.timeout
    try:
        while True:
            if ready_status(port) == 200:
                return (time.perf_counter() - t0) * 1000.0
            if proc.poll() is not None:
                raise RuntimeError("server exited with %s before ready" % proc.returncode)
            if time.perf_counter() > deadline:
                raise RuntimeError("not ready within %.1f s" % args.timeout)
            time.sleep(POLL_S)
    finally:
        stop(proc)


def percentile(sorted_vals, q):
    # nearest-rank
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(-(-q * len(sorted_vals) // 1)) - 1))
    return sorted_vals[k]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--model-name", required=True)
    p.add_argument("--model-dir", required=True)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--timeout", type=float, default=10.0, help="per run, seconds")
    p.add_argument("--log", default=os.devnull, help="server stdout/stderr go here")
    p.add_argument("extra", nargs="*", help="extra server arguments (after --)")
    args = p.parse_args()

    # SIGTERM (e.g. from `timeout`) unwinds through one_run's finally, so the
    # server being timed is stopped rather than left behind in its session.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    samples, errors = [], []
    with open(args.log, "ab") as log:
        for _ in range(args.runs):
            try:
                samples.append(one_run(args, log))
            except RuntimeError as e:
                errors.append(str(e))
                if len(errors) >= 3 and not samples:
                    break  # it is not going to start; do not spend the whole budget
    s = sorted(samples)
    out = {
        "runs": len(samples),
        "failures": len(errors),
        "errors": errors[:3],
        "samples_ms": [round(v, 3) for v in samples],
        "median_ms": round((s[(len(s) - 1) // 2] + s[len(s) // 2]) / 2, 3) if s else None,
        "p95_ms": round(percentile(s, 0.95), 3) if s else None,
        "min_ms": round(s[0], 3) if s else None,
        "max_ms": round(s[-1], 3) if s else None,
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0 if samples else 1


if __name__ == "__main__":
    sys.exit(main())
