"""Real servers on free loopback ports for the storage initializer's tests.

- FileServer: plain HTTP serving files, with failure modes (404, a connection
  closed mid-body, a stalled body, transient 503s, redirects, a slow start).
- FakeS3: an S3 path-style endpoint (ListObjectsV2 with paging, GET object)
  that verifies AWS Signature Version 4 the way S3 does: canonical request,
  credential scope, signed headers, x-amz-content-sha256, session token.
- S3rver: the s3rver npm package (an S3 clone) installed with npm at test
  time into a cache directory, started as a subprocess.
- FakeGCS: the two Cloud Storage JSON API endpoints the initializer uses.
- FakeHF: the two Hugging Face Hub endpoints the initializer uses, with the
  resolve/ redirect to a CDN path as the Hub does.

Every server counts the requests it got by path, so tests can check that a
second run downloads nothing.  Every wait is bounded.
"""
import base64
import collections
import datetime
import fcntl
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape as xml_escape

# the longest any handler sleeps (stalls, slow starts); shutdown cuts it short
MAX_SLEEP = 20.0


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def do_GET(self):
        srv = self.server.owner
        path = self.path.split("?", 1)[0]
        srv.count(path)
        try:
            srv.handle(self)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_PUT = do_GET
    do_HEAD = do_GET

    def reply(self, status, body=b"", content_type="application/octet-stream", headers=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class BaseServer:
    """A ThreadingHTTPServer on 127.0.0.1 in a daemon thread; subclasses implement handle(h)."""

    def __init__(self):
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def count(self, path):
        with self.lock:
            self.counts[path] += 1

    def requests(self, path=None):
        with self.lock:
            return sum(self.counts.values()) if path is None else self.counts[path]

    def reset_counts(self):
        with self.lock:
            self.counts.clear()

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def handle(self, h):
        raise NotImplementedError


class Route:
    """What FileServer does for one path."""

    def __init__(self, body=b"", status=200, delay=0.0, close_after=None, stall_after=None, redirect=None,
                 fail_first=0, trickle=0.0):
        self.body = body.encode() if isinstance(body, str) else body
        self.status = status
        self.delay = delay              # seconds before answering
        self.close_after = close_after  # send this many body bytes, then drop the connection
        self.stall_after = stall_after  # send this many body bytes, then go quiet
        self.redirect = redirect        # 302 to this location
        self.fail_first = fail_first    # answer 503 to this many requests first
        self.trickle = trickle          # spread the body over this many seconds


class FileServer(BaseServer):
    def __init__(self, routes=None):
        self.routes = dict(routes or {})
        super().__init__()

    def add(self, path, route):
        self.routes[path] = route

    def handle(self, h):
        path = urllib.parse.unquote(h.path.split("?", 1)[0])
        r = self.routes.get(path)
        if r is None:
            h.reply(404, "not found: %s\n" % path, "text/plain")
            return
        if r.fail_first > 0:
            with self.lock:
                r.fail_first -= 1
            h.reply(503, "try again later\n", "text/plain")
            return
        if r.delay:
            self.stop.wait(min(r.delay, MAX_SLEEP))
        if r.redirect is not None:
            h.reply(302, b"", headers={"Location": r.redirect})
            return
        if r.status != 200:
            h.reply(r.status, "status %d\n" % r.status, "text/plain")
            return
        cut = r.close_after if r.close_after is not None else r.stall_after
        if r.trickle:
            h.send_response(200)
            h.send_header("Content-Length", str(len(r.body)))
            h.end_headers()
            step = max(1, len(r.body) // 20)
            for i in range(0, len(r.body), step):
                h.wfile.write(r.body[i:i + step])
                h.wfile.flush()
                if self.stop.wait(min(r.trickle, MAX_SLEEP) / 20):
                    break
            return
        if cut is None:
            h.reply(200, r.body)
            return
        h.send_response(200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(r.body)))
        h.end_headers()
        h.wfile.write(r.body[:cut])
        h.wfile.flush()
        if r.stall_after is not None:
            self.stop.wait(MAX_SLEEP)
        h.close_connection = True
        try:
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# --------------------------------------------------------------------------
# S3 with Signature Version 4

def _q(s):
    return urllib.parse.quote(s, safe="-_.~")


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def s3_error(h, status, code, message):
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message></Error>'
            % (code, xml_escape(message)))
    h.reply(status, body, "application/xml")


class FakeS3(BaseServer):
    """Path-style S3: GET /bucket?list-type=2&prefix=P[&continuation-token=T], GET /bucket/key.

    objects: {bucket: {key: bytes}}.  With key/secret set, every request must
    carry a valid SigV4 signature for region (and token, when set);
    anonymous=True lets unsigned requests in.
    """

    def __init__(self, objects, key="AKIDEXAMPLE", secret="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                 region="us-east-1", token=None, anonymous=False, page_size=2, lie_size=None):
        self.objects = objects
        self.key, self.secret, self.region, self.token = key, secret, region, token
        self.anonymous = anonymous
        self.page_size = page_size
        self.lie_size = lie_size or {}  # key -> size to list instead of the real one
        self.signed = 0                 # requests whose signature checked out
        super().__init__()

    def verify(self, h):
        """None when the request may go on, else it has been answered with the error."""
        auth = h.headers.get("Authorization")
        if auth is None:
            if self.anonymous:
                return None
            s3_error(h, 403, "AccessDenied", "Access Denied")
            return False
        m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request, ?"
                         r"SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})", auth)
        if m is None:
            s3_error(h, 400, "AuthorizationHeaderMalformed", "The authorization header is malformed")
            return False
        akid, date, region, signed_headers, signature = m.groups()
        if akid != self.key:
            s3_error(h, 403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
            return False
        if region != self.region:
            s3_error(h, 400, "AuthorizationHeaderMalformed",
                     "the region '%s' is wrong; expecting '%s'" % (region, self.region))
            return False
        payload = h.headers.get("x-amz-content-sha256")
        if payload is None:
            s3_error(h, 400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
            return False
        amz_date = h.headers.get("x-amz-date", "")
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            s3_error(h, 403, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
            return False
        if abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) > 900 or \
                not amz_date.startswith(date):
            s3_error(h, 403, "RequestTimeTooSkewed", "The difference between the request time and now is too large.")
            return False
        signed = signed_headers.split(";")
        for need in ("host", "x-amz-date", "x-amz-content-sha256"):
            if need not in signed:
                s3_error(h, 403, "AccessDenied", "%s must be signed" % need)
                return False
        if self.token is not None:
            if h.headers.get("x-amz-security-token") != self.token or "x-amz-security-token" not in signed:
                s3_error(h, 403, "InvalidToken", "The provided token is malformed or otherwise invalid.")
                return False
        path, _, query = h.path.partition("?")
        pairs = sorted((_q(k), _q(v)) for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True))
        canonical_query = "&".join("%s=%s" % kv for kv in pairs)
        canonical_headers = "".join("%s:%s\n" % (name, " ".join((h.headers.get(name) or "").split()))
                                    for name in signed)
        creq = "\n".join([h.command, path, canonical_query, canonical_headers, signed_headers, payload])
        scope = "%s/%s/s3/aws4_request" % (date, region)
        sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
        k = _hmac(("AWS4" + self.secret).encode(), date)
        k = _hmac(_hmac(_hmac(k, region), "s3"), "aws4_request")
        want = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, signature):
            s3_error(h, 403, "SignatureDoesNotMatch",
                     "The request signature we calculated does not match the signature you provided. "
                     "Check your key and signing method.")
            return False
        with self.lock:
            self.signed += 1
        return None

    def handle(self, h):
        if self.verify(h) is not None:
            return
        path, _, query = h.path.partition("?")
        parts = path.lstrip("/").split("/", 1)
        bucket = urllib.parse.unquote(parts[0])
        if bucket not in self.objects:
            s3_error(h, 404, "NoSuchBucket", "The specified bucket does not exist")
            return
        objs = self.objects[bucket]
        if len(parts) == 1 or parts[1] == "":
            q = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
            if q.get("list-type") != "2":
                s3_error(h, 400, "InvalidArgument", "only ListObjectsV2 here")
                return
            prefix = q.get("prefix", "")
            keys = sorted(k for k in objs if k.startswith(prefix))
            if "continuation-token" in q:
                after = base64.b64decode(q["continuation-token"]).decode()
                keys = [k for k in keys if k > after]
            page, rest = keys[:self.page_size], keys[self.page_size:]
            out = ['<?xml version="1.0" encoding="UTF-8"?>\n'
                   '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
                   "<Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount><MaxKeys>%d</MaxKeys>"
                   % (xml_escape(bucket), xml_escape(prefix), len(page), self.page_size),
                   "<IsTruncated>%s</IsTruncated>" % ("true" if rest else "false")]
            for k in page:
                size = self.lie_size.get(k, len(objs[k]))
                out.append("<Contents><Key>%s</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>"
                           "<ETag>&quot;%s&quot;</ETag><Size>%d</Size><StorageClass>STANDARD</StorageClass>"
                           "</Contents>" % (xml_escape(k), hashlib.md5(objs[k]).hexdigest(), size))
            if rest:
                # a token with '+', '/' and '=' in it, as S3's are
                token = base64.b64encode(page[-1].encode()).decode()
                out.append("<NextContinuationToken>%s</NextContinuationToken>" % token)
            out.append("</ListBucketResult>")
            h.reply(200, "".join(out), "application/xml")
            return
        key = urllib.parse.unquote(parts[1])
        if key not in objs:
            s3_error(h, 404, "NoSuchKey", "The specified key does not exist.")
            return
        h.reply(200, objs[key])


class S3rver:
    """s3rver (npm) in a subprocess; install() first, which may raise RuntimeError (then skip)."""

    KEY = SECRET = "S3RVER"

    def __init__(self, prefix, data_dir):
        self.prefix = prefix
        self.bin = os.path.join(prefix, "node_modules", ".bin", "s3rver")
        self.data_dir = data_dir
        self.proc = None
        self.port = None
        self.url = None

    @staticmethod
    def install(prefix, timeout=240):
        """npm install --no-audit --no-fund s3rver@3 into prefix (once; later calls find it there)."""
        binpath = os.path.join(prefix, "node_modules", ".bin", "s3rver")
        if os.path.exists(binpath):
            return binpath
        npm = shutil.which("npm")
        if npm is None or shutil.which("node") is None:
            raise RuntimeError("node/npm are not installed")
        os.makedirs(prefix, exist_ok=True)
        # one installer at a time (two test runs may share the cache directory)
        with open(os.path.join(prefix, ".install.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if os.path.exists(binpath):
                return binpath
            try:
                p = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", prefix,
                                    "s3rver@3"], capture_output=True, text=True, timeout=timeout, cwd=prefix)
            except subprocess.TimeoutExpired:
                raise RuntimeError("npm install s3rver@3 took longer than %ds" % timeout)
        if p.returncode != 0 or not os.path.exists(binpath):
            raise RuntimeError("npm install s3rver@3 failed: %s" % (p.stderr.strip()[-400:] or p.stdout[-400:]))
        return binpath

    def start(self, timeout=30):
        os.makedirs(self.data_dir, exist_ok=True)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc = subprocess.Popen([shutil.which("node"), self.bin, "-d", self.data_dir, "-a", "127.0.0.1",
                                      "-p", str(self.port), "-s"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("s3rver exited: %s" % self.proc.stderr.read().decode(errors="replace")[-400:])
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("s3rver did not listen within %ds" % timeout)

    def curl(self, method, path, data_file=None, timeout=30):
        """A request signed with curl's --aws-sigv4 (s3rver's default credentials)."""
        cmd = ["curl", "-sS", "--max-time", str(timeout), "-o", "/dev/null", "-w", "%{http_code}",
               "--aws-sigv4", "aws:amz:us-east-1:s3", "-u", "%s:%s" % (self.KEY, self.SECRET),
               "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-X", method]
        if data_file is not None:
            cmd += ["-T", data_file]
        p = subprocess.run(cmd + [self.url + path], capture_output=True, text=True, timeout=timeout + 5)
        return int(p.stdout or 0)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()


# --------------------------------------------------------------------------
# Google Cloud Storage (JSON API) and the Hugging Face Hub

class FakeGCS(BaseServer):
    """GET /storage/v1/b/B/o?prefix=P[&pageToken=T] and GET /download/storage/v1/b/B/o/NAME?alt=media."""

    def __init__(self, objects, page_size=2):
        self.objects = objects  # {bucket: {name: bytes}}
        self.page_size = page_size
        super().__init__()

    def handle(self, h):
        path, _, query = h.path.partition("?")
        q = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        seg = path.split("/")
        not_found = {"error": {"code": 404, "message": "No such object or bucket"}}
        if len(seg) == 6 and seg[1:4] == ["storage", "v1", "b"] and seg[5] == "o":
            objs = self.objects.get(urllib.parse.unquote(seg[4]))
            if objs is None:
                h.reply(404, json.dumps(not_found), "application/json")
                return
            names = sorted(n for n in objs if n.startswith(q.get("prefix", "")))
            if "pageToken" in q:
                names = [n for n in names if n > q["pageToken"]]
            page, rest = names[:self.page_size], names[self.page_size:]
            doc = {"kind": "storage#objects",
                   "items": [{"kind": "storage#object", "name": n, "bucket": seg[4], "size": str(len(objs[n]))}
                             for n in page]}
            if not page:
                del doc["items"]
            if rest:
                doc["nextPageToken"] = page[-1]
            h.reply(200, json.dumps(doc), "application/json")
            return
        if len(seg) == 8 and seg[1:5] == ["download", "storage", "v1", "b"] and seg[6] == "o":
            objs = self.objects.get(urllib.parse.unquote(seg[5]), {})
            name = urllib.parse.unquote(seg[7])
            if q.get("alt") != "media" or name not in objs:
                h.reply(404, json.dumps(not_found), "application/json")
                return
            h.reply(200, objs[name])
            return
        h.reply(404, json.dumps(not_found), "application/json")


class FakeHF(BaseServer):
    """GET /api/models/ORG/MODEL/revision/REV and GET /ORG/MODEL/resolve/REV/FILE (302 to /cdn/...)."""

    def __init__(self, repos, token=None):
        self.repos = repos  # {"org/model": {"main": {file: bytes}}}
        self.token = token
        super().__init__()

    def handle(self, h):
        path = h.path.split("?", 1)[0]
        seg = [urllib.parse.unquote(s) for s in path.split("/")[1:]]
        if seg[:1] == ["cdn"] and len(seg) >= 5:
            files = self.repos.get(seg[1] + "/" + seg[2], {}).get(seg[3], {})
            name = "/".join(seg[4:])
            if name in files:
                h.reply(200, files[name])
            else:
                h.reply(404, json.dumps({"error": "Entry not found"}), "application/json")
            return
        if self.token is not None and h.headers.get("Authorization") != "Bearer " + self.token:
            h.reply(401, json.dumps({"error": "Invalid credentials in Authorization header"}), "application/json")
            return
        if len(seg) == 6 and seg[0] == "api" and seg[1] == "models" and seg[4] == "revision":
            repo = self.repos.get(seg[2] + "/" + seg[3])
            if repo is None or seg[5] not in repo:
                h.reply(404, json.dumps({"error": "Revision Not Found"}), "application/json")
                return
            doc = {"id": seg[2] + "/" + seg[3], "sha": hashlib.sha1(seg[5].encode()).hexdigest(),
                   "siblings": [{"rfilename": n} for n in sorted(repo[seg[5]])]}
            h.reply(200, json.dumps(doc), "application/json")
            return
        if len(seg) >= 5 and seg[2] == "resolve":
            # as the Hub does: a redirect to where the bytes are
            h.reply(302, b"", headers={"Location": "/cdn/" + "/".join(urllib.parse.quote(s) for s in
                                                                      [seg[0], seg[1]] + seg[3:])})
            return
        h.reply(404, json.dumps({"error": "Repository Not Found"}), "application/json")
