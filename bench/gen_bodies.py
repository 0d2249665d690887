#!/usr/bin/python3
"""Write the request bodies the benchmark posts, into OUTDIR.

    /usr/bin/python3 bench/gen_bodies.py OUTDIR

Files written:
  v1_1x4.json          V1 predict, one iris row
  v2_1x4.json          V2 JSON infer, one iris row (FP32, shape [1,4])
  v2_1000x4.json       V2 JSON infer, 1000 rows (FP32, shape [1000,4])
  v2bin_1000x4.bin     the same 1000 rows with the binary tensor extension:
                       JSON header then 16000 bytes of little-endian float32
  v2bin_1000x4.hdrlen  byte length of that JSON header (for the
                       Inference-Header-Content-Length request header)

The 1000 rows are iris-like values with one decimal, from a fixed seed, so
the JSON body is as short as a careful client would make it (a numpy
client's float32 reprs such as 6.800000190734863 would make JSON slower
still): the binary-versus-JSON comparison is not tilted toward binary.
Only the standard library is used.
"""
import json
import os
import random
import struct
import sys

ROW = [6.8, 2.8, 4.8, 1.4]
# iris feature ranges (min, max) per column
RANGES = [(4.3, 7.9), (2.0, 4.4), (1.0, 6.9), (0.1, 2.5)]


def rows(n, seed=42):
    rng = random.Random(seed)
    return [[round(rng.uniform(lo, hi), 1) for lo, hi in RANGES] for _ in range(n)]


def compact(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: gen_bodies.py OUTDIR\n")
        return 2
    out = argv[1]
    os.makedirs(out, exist_ok=True)

    write(os.path.join(out, "v1_1x4.json"), compact({"instances": [ROW]}))
    write(os.path.join(out, "v2_1x4.json"), compact({"inputs": [
        {"name": "input-0", "shape": [1, 4], "datatype": "FP32", "data": ROW}]}))

    big = rows(1000)
    flat = [v for r in big for v in r]
    write(os.path.join(out, "v2_1000x4.json"), compact({"inputs": [
        {"name": "input-0", "shape": [1000, 4], "datatype": "FP32", "data": flat}]}))

    raw = struct.pack("<%df" % len(flat), *flat)
    header = compact({"inputs": [
        {"name": "input-0", "shape": [1000, 4], "datatype": "FP32",
         "parameters": {"binary_data_size": len(raw)}}]})
    write(os.path.join(out, "v2bin_1000x4.bin"), header + raw)
    write(os.path.join(out, "v2bin_1000x4.hdrlen"), b"%d\n" % len(header))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
