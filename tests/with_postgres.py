"""Run a command beside a throwaway PostgreSQL server: ``python tests/with_postgres.py CMD...``.

A cluster is created in a temporary folder (initdb), started on a free local port, and its URL
exported to the command as ``PERFSETTLE_TEST_PG`` (the password in ``PGPASSWORD``); the server is
stopped and the folder removed when the command ends, whatever its outcome. The server refuses
to run as root: as root it runs as the ``postgres`` user (runuser). When no server can be started
(not installed, no ``postgres`` user) the command runs all the same, with the reason in
``PERFSETTLE_TEST_PG_ERROR``: the PostgreSQL tests then skip, or fail under ``CI=true``.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

PASSWORD = "perfsettle-test"
USER = "perfsettle"


def bindir() -> Path | None:
    """The folder of initdb and pg_ctl: pg_config's, else the newest /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if candidates:
        return Path(candidates[-1]).parent
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
        if out and (Path(out) / "initdb").exists():
            return Path(out)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self):
        self.root: Path | None = None
        self.bin = bindir()
        self.as_user: list[str] = []
        self.started = False

    def start(self) -> str:
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (no initdb found; apt-get install postgresql)")
        root_user = os.geteuid() == 0
        # as root, under /tmp: the postgres user must reach the folder (a TMPDIR in /root is closed to it)
        self.root = Path(tempfile.mkdtemp(prefix="perfsettle-pg-", dir="/tmp" if root_user else None))
        if root_user:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and there is no postgres user to run the server") from None
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        data, pwfile = self.root / "data", self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.as_user:
            os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
        self._run([str(self.bin / "initdb"), "-D", str(data), "-U", USER, "--pwfile", str(pwfile), "-E", "UTF8",
                   "--locale", "C", "--auth-local", "trust", "--auth-host", "scram-sha-256"])
        port = free_port()
        opts = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={self.root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run([str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.root / "server.log"), "-o", opts,
                   "-w", "-t", "60", "start"])
        self.started = True
        return f"postgresql://{USER}@127.0.0.1:{port}/postgres"

    def _run(self, cmd: list[str]) -> None:
        proc = subprocess.run(self.as_user + cmd, capture_output=True, text=True, cwd=self.root)
        if proc.returncode != 0:
            log = self.root / "server.log"
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            if log.exists():
                detail += log.read_text(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"{Path(cmd[0]).name} failed: {' / '.join(detail[-4:])}")

    def stop(self) -> None:
        try:
            if self.started:
                subprocess.run(self.as_user + [str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m",
                                               "immediate", "-w", "stop"], capture_output=True, cwd=self.root)
        finally:
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    cluster = Cluster()
    env = dict(os.environ)
    try:
        env["PERFSETTLE_TEST_PG"] = cluster.start()
        env["PGPASSWORD"] = PASSWORD
        print(f"PostgreSQL test server: {env['PERFSETTLE_TEST_PG']}", file=sys.stderr)
    except (RuntimeError, OSError) as exc:
        env.pop("PERFSETTLE_TEST_PG", None)
        env["PERFSETTLE_TEST_PG_ERROR"] = str(exc)
        print(f"no PostgreSQL test server: {exc}", file=sys.stderr)
    child = None

    def forward(signum, frame):
        if child is not None:
            child.send_signal(signum)
    try:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, forward)
        child = subprocess.Popen(argv, env=env)
        return child.wait()
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
