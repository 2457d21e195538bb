"""What the load benchmarks share: reading a URL and waiting for a server
to be ready."""

import time
import urllib.request


def get(url, token=None):
    """The body of GET `url`, with the admin bearer token when given."""
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.read().decode()


def wait_ready(base, timeout=300):
    """Returns once `base`/internal/ready answers 200; exits after `timeout` s."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            get(base + "/internal/ready")
            return
        except Exception:
            time.sleep(0.25)
    raise SystemExit(f"{base} not ready after {timeout} s")
