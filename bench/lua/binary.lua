-- wrk script: POST a V2 binary-tensor-extension body (JSON header followed by
-- raw little-endian tensor bytes) read from the file named by $BENCH_BODY.
-- $BENCH_HEADER_LEN is the byte length of the JSON part; it goes into the
-- Inference-Header-Content-Length request header.
local path = os.getenv("BENCH_BODY")
if not path or path == "" then error("BENCH_BODY is not set") end
local hlen = os.getenv("BENCH_HEADER_LEN")
if not hlen or not hlen:match("^%d+$") then error("BENCH_HEADER_LEN is not set") end
local f = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
if tonumber(hlen) > #wrk.body then error("BENCH_HEADER_LEN exceeds the body") end
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Inference-Header-Content-Length"] = hlen
