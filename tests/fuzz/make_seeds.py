#!/usr/bin/env python3
"""Writes the seed corpora of the libFuzzer targets: tests/fuzz/corpus/<target>/.

Run from anywhere: python3 tests/fuzz/make_seeds.py.  It empties each
corpus/<target>/ first, so the files are exactly what this script says.
"""
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def j(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


# ---- V1: {"instances": [...]} / {"inputs": [...]} -------------------------------------------------
V1 = {
    # the spec's example (sklearn-iris)
    "iris": b'{"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}',
    "inputs_key": b'{"inputs": [[1, 2, 3], [4, 5, 6]]}',
    "both_keys": b'{"instances": [[1]], "inputs": [[2.5]]}',
    "flat_int": j({"instances": [1, 2, 3, -4, 0, 9223372036854775807, -9223372036854775808]}),
    "flat_float": b'{"instances": [1.5, -0.0, 1e-300, 2.5E10, 3e+2, 0.1]}',
    # beyond int64: a float (a positive one, >= 2**63, trips the f64 writer's UB; see crashes/)
    "int_overflow": b'{"instances": [-9223372036854775809, 1]}',
    "bools": b'{"instances": [[true, false], [false, true]]}',
    "strings": j({"instances": ["a", "hello world", "", "\u00e9\u4e2d", "tab\tnl\nq\"\\"]}),
    "strings_escapes": b'{"instances": [["\\u0000\\u001f", "\\ud83d\\ude00"]]}',
    "nested3": j({"instances": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]}),
    "nested8": j({"instances": [[[[[[[[1]]]]]]]]}),
    "empty_rows": b'{"instances": [[], []]}',
    "records": b'{"instances": [{"a": 1, "b": [2, 3]}, {"a": 4, "b": [5, 6]}]}',
    "mixed_null": b'{"instances": [[1, null], [2, 3]]}',
    "mixed_str_num": b'{"instances": ["a", 1]}',
    "other_keys": b'{"signature_name": "serving", "meta": {"x": [1, {"y": null}]}, "instances": [1]}',
    "bool_int": b'{"instances": [true, 1, 2.5]}',
    # rejected ones, so that the error paths are in the corpus too
    "ragged": b'{"instances": [[1, 2], [3]]}',
    "ragged_depth": b'{"instances": [[1], 2]}',
    "too_deep": j({"instances": [[[[[[[[[1]]]]]]]]]}),
    "empty": b'{"instances": []}',
    "not_list": b'{"instances": 5}',
    "not_object": b"[1, 2, 3]",
    "missing": b'{"predictions": [1]}',
    "dup": b'{"instances": [1], "instances": [2]}',
    "truncated": b'{"instances": [[1, 2',
    "bad_json": b'{"instances": [1, 2,]}',
}

# ---- V2 JSON bodies ---------------------------------------------------------------------------------
DATA_BY_TYPE = {
    "BOOL": [True, False, True, False],
    "UINT8": [0, 1, 128, 255],
    "UINT16": [0, 1, 65535, 300],
    "UINT32": [0, 1, 4294967295, 70000],
    "UINT64": [0, 1, 9223372036854775807, 5],
    "INT8": [-128, 127, 0, -1],
    "INT16": [-32768, 32767, 0, -1],
    "INT32": [-2147483648, 2147483647, 0, -1],
    "INT64": [-9223372036854775808, 9223372036854775807, 0, -1],
    "FP32": [1.5, -2.25, 16777217.0, 1e-45],
    "FP64": [1.5, -0.0, 12345678901234568.0, 5e-324],
    "BYTES": ["a", "bc", "", "\u00e9"],
}


def v2_input(name, dt, shape, data, **params):
    d = {"name": name, "shape": shape, "datatype": dt, "data": data}
    if params:
        d["parameters"] = params
    return d


V2 = {
    "iris": b'{"inputs":[{"name":"input-0","shape":[2,4],"datatype":"FP32","data":[[6.8,2.8,4.8,1.4],[6.0,3.4,4.5,1.6]]}]}',
    "flat": j({"inputs": [v2_input("input-0", "FP64", [2, 2], [1.0, 2.0, 3.0, 4.0])]}),
    "nested": j({"inputs": [v2_input("x", "INT32", [2, 2, 1], [[[1], [2]], [[3], [4]]])]}),
    "id_params_outputs": j({
        "id": "req-42",
        "parameters": {"content_type": "np", "binary_data_output": False, "other": {"k": [1, 2]}},
        "inputs": [v2_input("input-0", "FP32", [1, 2], [0.5, 1.5], content_type="np")],
        "outputs": [{"name": "predict", "parameters": {"binary_data": False}}, {"name": "output-0"}],
    }),
    "multi_inputs": j({"inputs": [v2_input("a", "INT64", [3], [1, 2, 3]), v2_input("b", "BYTES", [1], ["x"]),
                                  v2_input("c", "BOOL", [2], [True, False])]}),
    "empty_tensor": j({"inputs": [v2_input("e", "FP32", [0, 3], [])]}),
    "scalar_shape": j({"inputs": [v2_input("s", "INT64", [], [7])]}),
    "ask_binary": j({"parameters": {"binary_data_output": True},
                     "inputs": [v2_input("a", "FP32", [2], [1.0, 2.0]), v2_input("b", "BYTES", [2], ["hi", ""])],
                     "outputs": [{"name": "a", "parameters": {"binary_data": True}}]}),
    "bool_as_ints": j({"inputs": [v2_input("b", "BOOL", [3], [0, 1, 1])]}),
    "ints_as_float": j({"inputs": [v2_input("f", "FP64", [3], [1, 2, 3])]}),
    "float_to_int": j({"inputs": [v2_input("i", "INT64", [2], [1.0, 2.5])]}),
    # rejected ones
    "shape_mismatch": j({"inputs": [v2_input("a", "FP32", [2, 3], [1, 2, 3])]}),
    "unknown_dtype": j({"inputs": [v2_input("a", "FP8", [1], [1])]}),
    "fp16_json": j({"inputs": [v2_input("a", "FP16", [1], [1.0])]}),
    "out_of_range": j({"inputs": [v2_input("a", "UINT8", [2], [1, 256])]}),
    "negative_dim": j({"inputs": [v2_input("a", "FP32", [-1], [1])]}),
    "huge_shape": j({"inputs": [v2_input("a", "FP32", [4294967296, 4294967296], [1])]}),
    "no_name": b'{"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]}',
    "no_inputs": b'{"id":"x"}',
    "null_data": b'{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[null]}]}',
    "dup_shape": b'{"inputs":[{"name":"a","shape":[1],"shape":[1],"datatype":"FP32","data":[1]}]}',
    "both_data_binary": b'{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1],"parameters":{"binary_data_size":4}}]}',
    "output_no_name": b'{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1]}],"outputs":[{}]}',
}
for dt, data in DATA_BY_TYPE.items():
    V2["dtype_" + dt.lower()] = j({"inputs": [v2_input("in-" + dt.lower(), dt, [2, 2], data)]})
V2["too_many_inputs"] = j({"inputs": [v2_input("i%d" % i, "INT8", [1], [i]) for i in range(17)]})


# ---- V2 binary extension: 2-byte little-endian JSON length, then the body -----------------------------
def binary_seed(header, payload, json_len=None):
    hdr = j(header)
    jl = len(hdr) if json_len is None else json_len
    return struct.pack("<H", jl) + hdr + payload


def b_input(name, dt, shape, size):
    return {"name": name, "shape": shape, "datatype": dt, "parameters": {"binary_data_size": size}}


def bytes_elems(*items):
    return b"".join(struct.pack("<I", len(x)) + x for x in items)


f32 = struct.pack("<4f", 6.8, 2.8, 4.8, 1.4)
i64 = struct.pack("<3q", -1, 0, 2**62)
be = bytes_elems(b"hello", b"", b"\x00\xff")
f16 = struct.pack("<2H", 0x3C00, 0x7C00)  # 1.0, +inf
bf16 = struct.pack("<2H", 0x3F80, 0xFF80)
BIN = {
    "fp32": binary_seed({"inputs": [b_input("input-0", "FP32", [1, 4], 16)]}, f32),
    "int64": binary_seed({"inputs": [b_input("x", "INT64", [3], 24)]}, i64),
    "bool": binary_seed({"inputs": [b_input("b", "BOOL", [4], 4)]}, b"\x00\x01\x01\x02"),
    "uint8": binary_seed({"inputs": [b_input("u", "UINT8", [2, 2], 4)]}, b"\x00\x7f\x80\xff"),
    "fp16": binary_seed({"inputs": [b_input("h", "FP16", [2], 4)]}, f16),
    "bf16": binary_seed({"inputs": [b_input("h", "BF16", [2], 4)]}, bf16),
    "fp64": binary_seed({"inputs": [b_input("d", "FP64", [2], 16)]}, struct.pack("<2d", 1.5, -0.0)),
    "bytes": binary_seed({"inputs": [b_input("s", "BYTES", [3], len(be))]}, be),
    "mixed": binary_seed({"id": "m", "inputs": [v2_input("j", "INT32", [2], [1, 2]), b_input("b", "FP32", [1, 4], 16),
                                               b_input("s", "BYTES", [3], len(be))],
                          "outputs": [{"name": "b", "parameters": {"binary_data": True}}]}, f32 + be),
    "ask_binary_out": binary_seed({"parameters": {"binary_data_output": True},
                                   "inputs": [b_input("x", "INT64", [3], 24)]}, i64),
    "empty_binary": binary_seed({"inputs": [b_input("e", "FP32", [0], 0)]}, b""),
    "json_only": binary_seed({"inputs": [v2_input("a", "UINT16", [2], [1, 2])]}, b""),
    # wrong lengths
    "size_too_big": binary_seed({"inputs": [b_input("x", "FP32", [1, 4], 20)]}, f32),
    "size_too_small": binary_seed({"inputs": [b_input("x", "FP32", [1, 4], 12)]}, f32),
    "size_vs_shape": binary_seed({"inputs": [b_input("x", "FP32", [1, 3], 16)]}, f32),
    "trailing_bytes": binary_seed({"inputs": [b_input("x", "FP32", [1, 4], 16)]}, f32 + b"junk"),
    "bytes_bad_prefix": binary_seed({"inputs": [b_input("s", "BYTES", [2], 9)]}, bytes_elems(b"abc") + b"\x09\x00"),
    "bytes_too_few": binary_seed({"inputs": [b_input("s", "BYTES", [3], 9)]}, bytes_elems(b"a", b"b") + b"\x00"),
    "bytes_too_many": binary_seed({"inputs": [b_input("s", "BYTES", [1], 10)]}, bytes_elems(b"a", b"b")),
    "bytes_len_past_end": binary_seed({"inputs": [b_input("s", "BYTES", [1], 8)]}, b"\xff\xff\xff\xff" + b"abcd"),
    "negative_size": binary_seed({"inputs": [b_input("x", "FP32", [1], -4)]}, b"\x00" * 4),
    "header_short": binary_seed({"inputs": [b_input("x", "FP32", [1, 4], 16)]}, f32, json_len=20),
    "header_past_json": binary_seed({"inputs": [b_input("x", "FP32", [1, 4], 16)]}, f32, json_len=70),
}

# ---- flags / router: NUL-separated argv, and "METHOD path" -----------------------------------------------
FLAGS = {
    "minimal": b"--model_dir\0/mnt/models",
    "kserve_style": b"--model_name\0sklearn-iris\0--model_dir\0/mnt/models\0--http_port\08080\0--grpc_port\08081"
                    b"\0--workers\04\0--max_threads\08\0--nthread\01\0--protocol\0v2",
    "equals": b"--model-name=iris\0--model-dir=/m\0--max_body_size=16MiB\0--drain_timeout=0\0--http_host=127.0.0.1",
    "sizes": b"--model_dir\0/m\0--max_body_size\01G\0--max_body_size\0512k\0--max_body_size\01099511627776",
    "enable_grpc_bare": b"--enable_grpc\0--model_dir\0/m",
    "enable_grpc_false": b"--enable_grpc=false\0--model_dir=/m",
    "help": b"--model_dir\0/m\0--help",
    "unknown": b"--predictor_host\0x\0--model_dir\0/m",
    "bad_port": b"--http_port\065536\0--model_dir\0/m",
    "missing_value": b"--model_dir",
    "positional": b"serve\0--model_dir\0/m",
    "slash_name": b"--model_name\0a/b\0--model_dir\0/m",
    "long_flag": b"--" + b"x" * 70 + b"=1",
    "route_v1_predict": b"POST /v1/models/sklearn-iris:predict",
    "route_v1_explain": b"POST /v1/models/a:b:explain",
    "route_v1_model": b"GET /v1/models/iris/",
    "route_v2_infer": b"POST /v2/models/iris/versions/1/infer?x=1",
    "route_v2_ready": b"HEAD /v2/models/iris/ready",
    "route_v2_health": b"GET /v2/health/ready",
    "route_v2_load": b"POST /v2/repository/models/iris/load",
    "route_v2_unload": b"POST /v2/repository/models/iris/unload",
    "route_metrics": b"GET /metrics",
    "route_root": b"GET /",
    "route_wrong_method": b"GET /v2/models/iris/infer",
}

TARGETS = {"fuzz_v1": V1, "fuzz_v2": V2, "fuzz_v2_binary": BIN, "fuzz_flags": FLAGS}


def main():
    for target, seeds in TARGETS.items():
        d = os.path.join(CORPUS, target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for name, body in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(body)
        print("%s: %d seeds" % (target, len(seeds)))


if __name__ == "__main__":
    main()
