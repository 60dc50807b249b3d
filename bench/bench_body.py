"""What an oversized form body costs a real ``curator serve``: issue #9's attack on /login.

    python bench/bench_body.py [--mb 1024] [--code DIR]

Starts ``curator serve`` (the code in ``--code``, default this checkout) on a fresh store,
takes a session and its CSRF token from /login, then streams a chunked form body of ``--mb``
MB to ``POST /login`` with the token in ``X-CSRF-Token`` (so the CSRF check never reads the
body), in 512 KB fields (under Starlette's own 1 MB-per-field and 1,000-field limits).
Prints the answer, how much was sent before it came, and the server's peak resident memory
(VmHWM) before and after.  Point ``--code`` at an export of an older commit to compare.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def peak_mb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+)", status)
    return int(found.group(1)) // 1024 if found else -1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(code: Path, tmp: Path, port: int) -> subprocess.Popen[str]:
    (tmp / "feeds.yaml").write_text("sources: []\ndigest: {enabled: false}\n")
    env = {**os.environ, "CURATOR_SECRET_KEY": "bench-" + "k" * 40, "PYTHONPATH": str(code)}
    args = ["--config", str(tmp / "feeds.yaml"), "--store", str(tmp / "store")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "curator", *args, "serve", "--port", str(port)],
        cwd=code,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "serving on" in line:
            return proc
    raise SystemExit(f"curator serve did not start (exit {proc.wait()})")


def attack(port: int, total: int) -> tuple[str, int]:
    """Stream the body; (the answer's status line, bytes sent before it came)."""
    page = httpx.get(f"http://127.0.0.1:{port}/login", timeout=10)
    found = _CSRF.search(page.text)
    assert found, "no CSRF token on /login"
    cookie = "; ".join(f"{k}={v}" for k, v in page.cookies.items())
    head = (
        "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-CSRF-Token: {found.group(1)}\r\nCookie: {cookie}\r\n\r\n"
    )
    field, plain = b"&f=" + b"a" * 65533, b"a" * 65536
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=600) as sock:
        sock.sendall(head.encode())
        try:
            n = 0
            while sent < total:
                chunk = field if n % 8 == 0 else plain
                n += 1
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                if select.select([sock], [], [], 0)[0]:
                    break
            else:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = sock.recv(200).split(b"\r\n")[0].decode()
    return answer, sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="body size in MB")
    parser.add_argument("--code", type=Path, default=ROOT, help="a checkout holding curator/")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = serve(args.code.resolve(), Path(tmp), port)
        try:
            before = peak_mb(proc.pid)
            started = time.monotonic()
            answer, sent = attack(port, args.mb << 20)
            took = time.monotonic() - started
            print(
                f"{answer} after {sent / 2**20:.1f} MB of {args.mb} MB sent in {took:.2f} s; "
                f"server peak RSS {before} MB before, {peak_mb(proc.pid)} MB after"
            )
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
