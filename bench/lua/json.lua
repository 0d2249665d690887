-- wrk script: POST a JSON body read from the file named by $BENCH_BODY.
-- Used for the V1 predict and V2 JSON infer cases.
local path = os.getenv("BENCH_BODY")
if not path or path == "" then error("BENCH_BODY is not set") end
local f = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
