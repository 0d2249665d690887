#!/usr/bin/python3
"""Writes the scenario traces of shared/spec/autoscaling.md section 8 (and the
worked example of 1.1) as NAME.jsonl, with NAME.expect.jsonl beside each:
one partial decision per line, matched in order against the replay's output
lines with the same "t" (tests/unit/test_kpa.c, tests/e2e/test_autoscaler_replay.py).

Run from anywhere: /usr/bin/python3 tests/data/autoscaler/make_traces.py
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
T10 = {"target": 10, "target-utilization-percentage": 100}  # a target of exactly 10


def write(name, config, lines, expect):
    with open(os.path.join(HERE, name + ".jsonl"), "w") as f:
        f.write(json.dumps({"config": config}) + "\n")
        for line in lines:
            f.write(json.dumps(line) + "\n")
    with open(os.path.join(HERE, name + ".expect.jsonl"), "w") as f:
        for e in expect:
            f.write(json.dumps(e) + "\n")


def steady(t0, t1, ready, conc=None, rps=None, reachable=None, every=2):
    """Stats every second of t0..t1, a tick every `every` s after each even second's stat."""
    out = []
    for t in range(t0, t1 + 1):
        s = {"t": t}
        if conc is not None:
            s["concurrency"] = conc(t) if callable(conc) else conc
        if rps is not None:
            s["rps"] = rps(t) if callable(rps) else rps
        out.append(s)
        if t % every == 0:
            k = {"t": t, "tick": True, "ready": ready(t) if callable(ready) else ready}
            if reachable is not None:
                k["reachable"] = reachable
            out.append(k)
    return out


# 1.1 worked example: W 6 s, PW 2 s, 5..14 at t = 1..10
write("window_example", {"window": "6s", "panic-window-percentage": 33},
      [{"t": t, "concurrency": t + 4} for t in range(1, 11)] +
      [{"t": t, "tick": True, "ready": 1} for t in (10, 12, 16, 17)],
      [{"t": 10, "stable": 11.5, "panic_avg": 13.5}, {"t": 12, "stable": 12.5, "panic_avg": 0},
       {"t": 16, "stable": 0, "panic_avg": 0}, {"t": 17, "valid": False}])
write("window_two_values", {"window": 6},
      [{"t": 1, "concurrency": 5}, {"t": 2, "concurrency": 6}, {"t": 2, "tick": True, "ready": 1}],
      [{"t": 2, "stable": 5.5, "panic_avg": 6}])

# 1. target 7 (CC 10), 35 concurrent, R = 5: 5, no panic
write("s01_steady", {"container-concurrency": 10}, steady(1, 30, 5, conc=35),
      [{"t": t, "desired": 5, "panic": False, "stable": 35, "ebc": 50 - 211 - 35} for t in range(2, 31, 2)])

# 2. target 10, 50 then 100 steadily, R = 1: 5 then 10 (R = 1 with 5x the target also panics)
write("s02_target10", T10,
      steady(1, 60, 1, conc=50) + steady(61, 200, 1, conc=100),
      [{"t": 60, "desired": 5, "stable": 50}, {"t": 200, "desired": 10, "stable": 100, "panic_avg": 100}])

# 3. target 7, R = 1, panic average 50: dppc 8, panic, 8
write("s03_panic", {"container-concurrency": 10}, steady(1, 10, 1, conc=50),
      [{"t": 10, "desired": 8, "panic": True, "panic_avg": 50}])
# boundary: R = 4, target 10: 75 panics (8/4 = 2.0), 70 does not (7/4)
write("s03_boundary_75", T10, steady(1, 10, 4, conc=75),
      [{"t": 10, "desired": 8, "panic": True, "panic_avg": 75}])
write("s03_boundary_70", T10, steady(1, 10, 4, conc=70),
      [{"t": t, "desired": 7, "panic": False} for t in range(2, 11, 2)])


# 4. panic holds: R = 10, 100 -> 10; surge to 1000 -> 100 in panic; load 1: 100 while panicking,
#    then 1 (rate 10) or 5 (rate 2) once W has passed since the last over-threshold tick (t = 74)
def load4(t):
    return 100 if t <= 60 else 1000 if t <= 70 else 1


for name, rate, after in (("s04_panic_holds", 10, 1), ("s04_panic_holds_rate2", 2, 5)):
    write(name, dict(T10, **{"max-scale-down-rate": rate}), steady(1, 140, 10, conc=load4),
          [{"t": 60, "desired": 10, "panic": False}, {"t": 70, "desired": 100, "panic": True},
           {"t": 74, "desired": 100, "panic": True}, {"t": 104, "desired": 100, "panic": True},
           {"t": 134, "desired": 100, "panic": True}, {"t": 136, "desired": after, "panic": False},
           {"t": 140, "desired": after, "panic": False}])

# 5. max-scale-up-rate 10, R = 1, stable 1000, target 10: 10; at R = 10: 100.  Rate 1.1 at R = 2: 3
write("s05_scale_up_rate", dict(T10, **{"max-scale-up-rate": 10}),
      [{"t": t, "concurrency": 1000} for t in range(1, 13)] +
      [{"t": 12, "tick": True, "ready": 1}, {"t": 12, "tick": True, "ready": 10}],
      [{"t": 12, "desired": 10, "stable": 1000}, {"t": 12, "desired": 100}])
write("s05_scale_up_rate_1_1", dict(T10, **{"max-scale-up-rate": 1.1}), steady(1, 10, 2, conc=1000),
      [{"t": 10, "desired": 3}])

# 6. max-scale-down-rate 2, no traffic: R = 8, 4, 2, 1 give 4, 2, 1, 0
write("s06_scale_down", {}, steady(1, 8, lambda t: 16 >> (t // 2), conc=0),
      [{"t": 2, "desired": 4}, {"t": 4, "desired": 2}, {"t": 6, "desired": 1}, {"t": 8, "desired": 0}])

# 7. min-scale 2 / max-scale 3: the decider reports 1 (no traffic, R = 2) and 10; bounds come after it
write("s07_bounds", dict(T10, **{"min-scale": 2, "max-scale": 3}),
      steady(1, 10, 2, conc=0) + steady(11, 70, 2, conc=100),
      [{"t": 10, "desired": 1}, {"t": 70, "desired": 10, "stable": 100}])

# 8. activation-scale 2, one request from zero (the activator's poke: a stat of 1, R = 0): 2
write("s08_activation_scale", {"activation-scale": 2},
      [{"t": 100, "concurrency": 1}, {"t": 100, "tick": True, "ready": 0}],
      [{"t": 100, "desired": 2, "panic": False, "stable": 1, "ebc": -212}])

# 9. rps, 700 rps, default target 140: 5
write("s09_rps", {"metric": "rps"}, steady(1, 10, 5, conc=3, rps=700),
      [{"t": 10, "desired": 5, "stable": 700, "panic_avg": 700, "ebc": 5 * 200 - 211 - 700}])

# 10. scale-down-delay 5 min (K = 150 buckets), R = 4: 40 -> 4; load 0 from t = 61: the last 4 is
#     recorded at 74 and holds through 372; the last 3 (at 88) through 386; then 2 (= R / rate)
write("s10_scale_down_delay", dict(T10, **{"scale-down-delay": "5m"}),
      steady(1, 400, 4, conc=lambda t: 40 if t <= 60 else 0),
      [{"t": 60, "desired": 4}, {"t": 74, "desired": 4}, {"t": 200, "desired": 4}, {"t": 372, "desired": 4},
       {"t": 374, "desired": 3}, {"t": 386, "desired": 3}, {"t": 388, "desired": 2}, {"t": 400, "desired": 2}])

# 11. TBC 211, CC 0 (total 100), panic average 50: R = 3 -> EBC 39, R = 2 -> -61
write("s11_ebc", {"target-burst-capacity": 211},
      [{"t": t, "concurrency": 50} for t in range(1, 11)] +
      [{"t": 10, "tick": True, "ready": 3}, {"t": 10, "tick": True, "ready": 2}],
      [{"t": 10, "ebc": 39, "panic_avg": 50}, {"t": 10, "ebc": -61}])

# 1.2 and its exception: TBC -1 never reports no data; TBC 0 gives EBC 0
write("no_data_tbc_minus_1", {"window": "6s", "target-burst-capacity": -1},
      [{"t": 5, "tick": True, "ready": 1}, {"t": 6, "concurrency": 7}, {"t": 20, "tick": True, "ready": 1}],
      [{"t": 5, "desired": 0, "stable": 0, "ebc": -1}, {"t": 20, "desired": 0, "stable": 0, "ebc": -1}])
write("no_data", {"window": "6s", "target-burst-capacity": 0},
      [{"t": 5, "tick": True, "ready": 1}, {"t": 6, "concurrency": 7}, {"t": 6, "tick": True, "ready": 1},
       {"t": 13, "tick": True, "ready": 1}],
      [{"t": 5, "valid": False}, {"t": 6, "desired": 1, "ebc": 0}, {"t": 13, "valid": False}])
# unreachable: maxDown is 0, so no traffic gives 0 at once
write("unreachable", {}, steady(1, 4, 8, conc=0, reachable=False), [{"t": 4, "desired": 0}])
