"""`make lab` works: JupyterLab starts, serves a notebook over HTTP, and stops cleanly."""

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def test_make_lab_serves_a_notebook_and_stops():
    port, token = free_port(), secrets.token_hex(16)
    args = (f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.port_retries=0 "
            f"--IdentityProvider.token={token}")
    proc = subprocess.Popen(["make", "--no-print-directory", "lab", f"LAB_ARGS={args}"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env=dict(os.environ, JUPYTER_PLATFORM_DIRS="1"))
    try:
        deadline, last = time.time() + 120, None
        while time.time() < deadline:
            assert proc.poll() is None, f"make lab exited early:\n{proc.stdout.read()[-2000:]}"
            try:
                status, _ = get(f"http://127.0.0.1:{port}/api/status?token={token}")
                if status == 200:
                    break
            except OSError as e:
                last = e
            time.sleep(1)
        else:
            raise AssertionError(f"JupyterLab did not answer on port {port} within 120 s ({last})")
        status, page = get(f"http://127.0.0.1:{port}/lab?token={token}")
        assert status == 200 and b"JupyterLab" in page
        status, body = get(f"http://127.0.0.1:{port}/api/contents/01_teacher.ipynb?token={token}")
        nb = json.loads(body)
        assert status == 200 and nb["type"] == "notebook" and nb["content"]["cells"]
        # it opens on the start page (shown as a page, not as source) and asks nothing about news
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/?token={token}", timeout=5) as r:
            assert r.url.split("?")[0].endswith("/lab/tree/START_HERE.md"), r.url
        status, body = get(f"http://127.0.0.1:{port}/api/contents/START_HERE.md?token={token}")
        assert status == 200 and "Open the notebooks in order" in json.loads(body)["content"]
        # (the overrides become the settings' defaults: tools/lab/overrides.json)
        _, body = get(f"http://127.0.0.1:{port}/lab/api/settings/@jupyterlab/apputils-extension:notification?token={token}")
        props = json.loads(body)["schema"]["properties"]
        assert props["fetchNews"]["default"] == "false" and props["checkForUpdates"]["default"] is False
        _, body = get(f"http://127.0.0.1:{port}/lab/api/settings/@jupyterlab/docmanager-extension:plugin?token={token}")
        assert json.loads(body)["schema"]["properties"]["defaultViewers"]["default"]["markdown"] == "Markdown Preview"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # make and JupyterLab: the whole process group
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError("JupyterLab did not stop within 30 s of SIGTERM")
    with socket.socket() as s:  # nothing listens on the port any more: the server really stopped
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # (connections in TIME_WAIT may linger)
        s.bind(("127.0.0.1", port))
