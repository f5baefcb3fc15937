"""What deploy/compose-check and deploy/memory-check share: the failure type, running a
command from the repository root, a free local port. Stdlib only."""
import os
import socket
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Failed(Exception):
    pass


def run(cmd, timeout=300, check=True, env=None):
    """Runs cmd in the repository root; raises Failed (with the output's tail) on a non-zero
    exit when check is set."""
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
    if check and out.returncode != 0:
        raise Failed(f"{' '.join(cmd)} exited {out.returncode}:\n{out.stdout[-3000:]}{out.stderr[-3000:]}")
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
