"""What the load benchmarks share: reading a URL and waiting for a server
to be ready, free ports, Prometheus text, wrk runs, and synthetic viewers
(did:plc DIDs with a P-256 `#atproto` key, their ES256 service JWTs, and a
PLC directory stand-in serving their DID documents). Python stdlib only:
the P-256 arithmetic is here (Jacobian double-and-add; a few ms a key or
a signature, not constant-time: for benchmarks, never for real keys)."""

import base64
import hashlib
import json
import os
import re
import secrets
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The admin token the benchmarks start the server with.
TOKEN = "bench-admin-token-16"
FEED_METHOD = "app.bsky.feed.getFeedSkeleton"
# The demo dataset's viewer, and its personalized for-you first page.
DEMO_VIEWER = "did:plc:demoviewer22222222222222"
PERSONALIZE_BODY = '{"user_did":"%s","feed":"for-you","limit":30}' % DEMO_VIEWER
# The headers of a /v1/personalize request, for feedmixer-load.
PERSONALIZE_HEADERS = ("content-type: application/json", f"authorization: Bearer {TOKEN}")


def post_lua(body):
    """A wrk script POSTing `body` as JSON with the admin bearer token."""
    return ('wrk.method = "POST"\n'
            f"wrk.body   = '{body}'\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.headers["Authorization"] = "Bearer {TOKEN}"\n')


def get(url, token=None):
    """The body of GET `url`, with the admin bearer token when given."""
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.read().decode()


def request(url, token=None, body=None):
    """(status, parsed JSON body) of GET, or POST with a JSON `body`."""
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode())
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_ready(base, timeout=300, process=None):
    """Returns once `base`/internal/ready answers 200; exits after `timeout`
    s, or as soon as `process` (a Popen) has exited."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"the server exited ({process.returncode}) before it was ready")
        try:
            get(base + "/internal/ready")
            return
        except Exception:
            time.sleep(0.05)
    raise SystemExit(f"{base} not ready after {timeout} s")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_metrics(text):
    """{(name, frozenset(labels)): value} of a Prometheus text page."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)", line)
        if m:
            labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def by_label(metrics, name, label):
    """`name` summed per value of `label`."""
    out = Counter()
    for (n, labels), value in metrics.items():
        if n == name:
            out[dict(labels).get(label, "")] += value
    return out


def viewer_auth(base):
    """`feedmixer_viewer_auth_total` per outcome (verified, invalid, ...)."""
    return by_label(parse_metrics(get(base + "/metrics")), "feedmixer_viewer_auth_total",
                    "outcome")


# --- wrk -------------------------------------------------------------------

def _ms(value):
    """wrk's `1.23ms` / `456.00us` / `1.01s` in milliseconds."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    number, unit = float(m.group(1)), m.group(2)
    return round(number * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit], 3)


def wrk(url, connections, duration, script=None, script_args=(), threads=2):
    """One wrk run (`--latency`): requests/s, p50 and p99 in ms, non-2xx
    answers and socket errors. At most `threads` threads (never more than
    connections)."""
    cmd = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{duration}s",
           "--latency", "--timeout", "5s"]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    if script_args:
        cmd += ["--", *script_args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = {k: _ms(v) for k, v in re.findall(r"^\s+(\d+)%\s+([\d.]+\w+)", out, re.M)}
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"requests": requests, "requests_per_sec": rps,
            "p50_ms": pct.get("50"), "p99_ms": pct.get("99"),
            "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "socket_errors": sum(int(n) for n in sock.groups()) if sock else 0}


def open_loop(load_bin, url, rate, duration, warmup, body=None, headers=(), connections=64):
    """One run of feedmixer-load (crates/load): `rate` requests/s offered
    whatever the answers, latency from when each was due. Its JSON report:
    sent, status counts, errors, ok_per_sec, ok_ms and all_ms percentiles."""
    cmd = [load_bin, url, "--rate", f"{rate:.1f}", "--duration", str(duration),
           "--warmup", str(warmup), "--connections", str(connections)]
    if body is not None:
        cmd += ["--body", body]
    for header in headers:
        cmd += ["-H", header]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


# --- identities and tokens -------------------------------------------------

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
# P-256 (secp256r1): field prime, b, generator, group order (a = -3).
P256_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
P256_G = (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
          0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _p256_double(point):
    """2P in Jacobian coordinates (X, Y, Z) (a = -3); None is infinity."""
    if point is None or point[1] == 0:
        return None
    x, y, z = point
    p = P256_P
    delta, gamma = z * z % p, y * y % p
    beta = x * gamma % p
    alpha = 3 * (x - delta) * (x + delta) % p
    x3 = (alpha * alpha - 8 * beta) % p
    z3 = ((y + z) ** 2 - gamma - delta) % p
    y3 = (alpha * (4 * beta - x3) - 8 * gamma * gamma) % p
    return x3, y3, z3


def _p256_add_affine(point, x2, y2):
    """P + (x2, y2), P Jacobian, the other affine."""
    if point is None:
        return x2, y2, 1
    x1, y1, z1 = point
    p = P256_P
    zz = z1 * z1 % p
    h = (x2 * zz - x1) % p
    r = 2 * (y2 * z1 * zz - y1) % p
    if h == 0:
        return _p256_double(point) if r == 0 else None
    hh = h * h % p
    i = 4 * hh % p
    j = h * i % p
    v = x1 * i % p
    x3 = (r * r - j - 2 * v) % p
    y3 = (r * (v - x3) - 2 * y1 * j) % p
    z3 = ((z1 + h) ** 2 - zz - hh) % p
    return x3, y3, z3


def _p256_mul(k):
    """k·G, affine."""
    out = None
    for bit in bin(k)[2:]:
        out = _p256_double(out)
        if bit == "1":
            out = _p256_add_affine(out, *P256_G)
    x, y, z = out
    zi = pow(z, -1, P256_P)
    return x * zi * zi % P256_P, y * zi * zi * zi % P256_P


class P256Key:
    """A P-256 private key: its compressed public point and ES256 signatures."""

    def __init__(self):
        self.secret = secrets.randbelow(P256_N - 1) + 1
        self.public = _p256_mul(self.secret)

    def compressed_public(self):
        x, y = self.public
        return bytes([2 + (y & 1)]) + x.to_bytes(32, "big")

    def sign(self, message):
        """r||s (32 bytes each) of SHA-256 `message`, S low."""
        z = int.from_bytes(hashlib.sha256(message).digest(), "big")
        while True:
            k = secrets.randbelow(P256_N - 1) + 1
            r = _p256_mul(k)[0] % P256_N
            s = pow(k, -1, P256_N) * (z + r * self.secret) % P256_N
            if r and s:
                s = min(s, P256_N - s)
                return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def plc_did(name):
    """A did:plc (24 base32 characters) derived from `name`."""
    digest = base64.b32encode(hashlib.sha256(name.encode()).digest()).decode().lower()
    return "did:plc:" + digest[:24]


def b58encode(data):
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Viewer:
    """An account `did` with a P-256 `#atproto` key."""

    def __init__(self, did):
        self.did = did
        self.key = P256Key()

    def multibase(self):
        return "z" + b58encode(b"\x80\x24" + self.key.compressed_public())

    def did_doc(self):
        return {
            "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
            "id": self.did,
            "alsoKnownAs": [f"at://{self.did[8:]}.bench.example"],
            "verificationMethod": [{
                "id": f"{self.did}#atproto",
                "type": "Multikey",
                "controller": self.did,
                "publicKeyMultibase": self.multibase(),
            }],
            "service": [{
                "id": "#atproto_pds",
                "type": "AtprotoPersonalDataServer",
                "serviceEndpoint": "https://pds.bench.example",
            }],
        }

    def token(self, aud, method, lifetime):
        """An ES256 service JWT: r||s, low S, base64url without padding."""
        now = int(time.time())
        header = b64url(json.dumps({"alg": "ES256", "typ": "JWT"}).encode())
        claims = {"iss": self.did, "aud": aud, "lxm": method, "iat": now,
                  "exp": now + lifetime, "jti": os.urandom(8).hex()}
        payload = b64url(json.dumps(claims).encode())
        signing_input = f"{header}.{payload}".encode()
        return f"{header}.{payload}.{b64url(self.key.sign(signing_input))}"


def start_plc(viewers):
    """A PLC directory on 127.0.0.1 answering `GET /{did}` with the DID
    document of each of `viewers` (404 otherwise): (server, fetches), where
    `fetches` counts answers by whether the DID was known. Its URL is
    `http://127.0.0.1:{server.server_address[1]}`."""
    docs = {v.did: json.dumps(v.did_doc()).encode() for v in viewers}
    fetches = Counter()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            did = self.path.lstrip("/")
            fetches[did in docs] += 1
            body = docs.get(did)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, fetches


# --- a Jetstream stand-in's WebSocket side ---------------------------------

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_frame(payload, opcode=0x1):
    """One unmasked server frame (RFC 6455)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


class WebSocketServer:
    """Accepts WebSocket clients on a loopback port, a thread each: the
    handshake, then `stream(conn, send_lock, closed, path)` (a subclass's)
    sends while a reader answers pings and ends on the client's close."""

    def __init__(self):
        self.stopping = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self.stopping.set()
        self.sock.close()

    def stream(self, conn, send_lock, closed, path):
        raise NotImplementedError

    def _accept(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        send_lock = threading.Lock()
        closed = threading.Event()
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            path = head.split(b" ", 2)[1].decode()
            key = re.search(rb"(?im)^sec-websocket-key:\s*(\S+)", head).group(1)
            accept = base64.b64encode(hashlib.sha1(key + WS_GUID.encode()).digest())
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            threading.Thread(target=self._read, args=(conn, send_lock, closed), daemon=True).start()
            self.stream(conn, send_lock, closed, path)
        except OSError:
            pass
        finally:
            closed.set()
            conn.close()

    def _read(self, conn, send_lock, closed):
        """Client frames (masked): answers pings, ends on close."""
        def read(n):
            data = b""
            while len(data) < n:
                chunk = conn.recv(n - len(data))
                if not chunk:
                    raise OSError("closed")
                data += chunk
            return data
        try:
            while not closed.is_set():
                b0, b1 = read(2)
                n = b1 & 0x7F
                if n == 126:
                    n = struct.unpack("!H", read(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", read(8))[0]
                mask = read(4) if b1 & 0x80 else b"\0\0\0\0"
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(read(n)))
                opcode = b0 & 0x0F
                if opcode == 0x9:
                    with send_lock:
                        conn.sendall(ws_frame(payload, 0xA))
                elif opcode == 0x8:
                    with send_lock:
                        conn.sendall(ws_frame(payload[:2], 0x8))
                    break
        except (OSError, ValueError):
            pass
        finally:
            closed.set()
