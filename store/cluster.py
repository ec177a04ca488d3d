"""The embedded default: a PostgreSQL (+ TimescaleDB) cluster that SpanTally manages itself.

When no database URL is configured, SpanTally initialises a cluster in its home directory, starts
it on a loopback port, and stops it on exit. PostgreSQL refuses to run as root, so a root caller
runs the server as an unprivileged system user (``postgres`` by default). The cluster uses
password authentication even on loopback; the generated password is kept in the home directory
with mode 0600.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

__all__ = [
    "ClusterConfig",
    "ClusterError",
    "ManagedCluster",
    "default_home",
    "find_pg_bindir",
    "temporary_cluster",
]

_SUPERUSER = "spantally"
_DATABASE = "spantally"


class ClusterError(RuntimeError):
    """The managed cluster could not be initialised, started or stopped."""


def default_home() -> Path:
    """Where the embedded cluster and its secrets live unless SPANTALLY_HOME says otherwise."""
    if os.geteuid() == 0:
        # /root is not traversable by the unprivileged user that runs PostgreSQL.
        return Path("/var/lib/spantally")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "spantally"


def find_pg_bindir() -> Path:
    """The bin directory of the newest installed PostgreSQL server (SPANTALLY_PG_BIN wins)."""
    explicit = os.environ.get("SPANTALLY_PG_BIN")
    if explicit:
        return Path(explicit)
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
        return Path(out.stdout.strip())
    raise ClusterError(
        "no PostgreSQL server found: run scripts/install-database.sh, "
        "or set SPANTALLY_DATABASE_URL to use an existing database"
    )


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    home: Path
    port: int = 54329
    host: str = "127.0.0.1"
    run_as: str = "postgres"
    """System user that runs PostgreSQL when SpanTally itself runs as root."""


class ManagedCluster:
    """Initialise, start, stop and locate a local cluster under ``config.home``."""

    def __init__(self, config: ClusterConfig, bindir: Path | None = None) -> None:
        self.config = config
        self.bindir = bindir or find_pg_bindir()
        self.data_dir = config.home / "pgdata"
        self._password_file = config.home / "db-password"
        self._owner = self._server_user()

    # -- public API ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        password = quote(self._password_file.read_text().strip(), safe="")
        return (
            f"postgresql://{_SUPERUSER}:{password}@{self.config.host}:{self.config.port}/{_DATABASE}"
        )

    @property
    def timescaledb_available(self) -> bool:
        return (self._sharedir() / "extension" / "timescaledb.control").is_file()

    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def is_running(self) -> bool:
        if not self.is_initialised():
            return False
        result = self._pg_ctl("status", check=False)
        return result.returncode == 0

    def ensure_started(self) -> bool:
        """Initialise if needed and start if not running. Returns True if this call started it."""
        if not self.is_initialised():
            self.initialise()
        if self.is_running():
            return False
        self.start()
        return True

    def initialise(self) -> None:
        home = self.config.home
        home.mkdir(parents=True, exist_ok=True)
        if self._owner is not None:
            # The server user must reach the data directory; nothing else in home is exposed.
            home.chmod(0o711)
            self._check_traversable(home)
        password = secrets.token_urlsafe(24)
        self._password_file.write_text(password + "\n")
        self._password_file.chmod(0o600)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        pwfile = home / ".initdb-password"
        pwfile.write_text(password + "\n")
        try:
            if self._owner is not None:
                os.chown(self.data_dir, self._owner.pw_uid, self._owner.pw_gid)
                os.chown(pwfile, self._owner.pw_uid, self._owner.pw_gid)
            pwfile.chmod(0o600)
            self._run(
                [
                    str(self.bindir / "initdb"),
                    "-D", str(self.data_dir),
                    "-U", _SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "-E", "UTF8",
                    "--locale=C",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self._write_settings()
        self.start()
        try:
            self._create_database()
        finally:
            self.stop()

    def create_standby(self, config: ClusterConfig) -> ManagedCluster:
        """A hot standby streaming from this (running) cluster, initialised in `config.home`
        and started: a local read replica for SPANTALLY_READ_DATABASE_URL."""
        standby = ManagedCluster(config, self.bindir)
        config.home.mkdir(parents=True, exist_ok=True)
        standby.data_dir.mkdir(mode=0o700, exist_ok=True)
        if standby._owner is not None:
            config.home.chmod(0o711)
            standby._check_traversable(config.home)
            os.chown(standby.data_dir, standby._owner.pw_uid, standby._owner.pw_gid)
        shutil.copyfile(self._password_file, standby._password_file)
        standby._password_file.chmod(0o600)
        # A fast checkpoint: the default spread one takes minutes on a busy primary.
        standby._run([str(self.bindir / "pg_basebackup"), "-D", str(standby.data_dir), "-R",
                      "--checkpoint=fast",
                      "-X", "stream", "-d", self.url])
        standby._write_settings()  # its own port and socket directory, after the copied ones
        standby.start()
        return standby

    def start(self) -> None:
        log = self.data_dir / "server.log"
        result = self._pg_ctl("start", "-w", "-t", "60", "-l", str(log), check=False)
        if result.returncode != 0:
            said = " ".join((result.stdout + result.stderr).split())
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ClusterError(f"PostgreSQL did not start (pg_ctl exit {result.returncode}: {said}):\n{tail}")

    def stop(self) -> None:
        if self.is_running():
            self._pg_ctl("stop", "-m", "fast", "-w", "-t", "60")

    # -- internals -----------------------------------------------------------------------

    def _write_settings(self) -> None:
        settings = {
            "listen_addresses": f"'{self.config.host}'",
            "port": str(self.config.port),
            # Sockets in the data directory: the default directory may not be writable by us.
            "unix_socket_directories": f"'{self.data_dir}'",
            "max_connections": "100",
            "shared_buffers": "'256MB'",
            "logging_collector": "off",
        }
        if self.timescaledb_available:
            settings["shared_preload_libraries"] = "'timescaledb'"
            settings["timescaledb.telemetry_level"] = "off"
        lines = ["", "# Written by SpanTally for its managed cluster."]
        lines += [f"{key} = {value}" for key, value in settings.items()]
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a") as fh:
            fh.write("\n".join(lines) + "\n")

    def _create_database(self) -> None:
        import psycopg

        url = self.url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (_DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{_DATABASE}"')

    def _sharedir(self) -> Path:
        out = self._run([str(self.bindir / "pg_config"), "--sharedir"], as_owner=False)
        return Path(out.stdout.strip())

    def _server_user(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(self.config.run_as)
        except KeyError:
            raise ClusterError(
                f"running as root, and there is no user {self.config.run_as!r} to run PostgreSQL "
                "as; create one or set SPANTALLY_DB_USER"
            ) from None

    def _check_traversable(self, path: Path) -> None:
        for parent in [path, *path.parents]:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                raise ClusterError(
                    f"{parent} is not traversable by user {self.config.run_as!r}, which runs "
                    "PostgreSQL: choose another SPANTALLY_HOME"
                )

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), *args], check=check)

    def _run(
        self, argv: list[str], *, check: bool = True, as_owner: bool = True
    ) -> subprocess.CompletedProcess[str]:
        # Spawned with posix_spawn (no cwd/user arguments, close_fds=False): a fork() in a
        # process with gRPC threads runs gRPC's fork handlers and can crash the child before it
        # executes. The working directory and the unprivileged user are set by env and setpriv.
        prefix = ["/usr/bin/env", "-C", "/"]
        if as_owner and self._owner is not None:
            prefix += [
                "setpriv",
                f"--reuid={self._owner.pw_uid}",
                f"--regid={self._owner.pw_gid}",
                "--clear-groups",
            ]
        result = subprocess.run(
            [*prefix, *argv],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            close_fds=False,
        )
        if check and result.returncode != 0:
            raise ClusterError(
                f"{Path(argv[0]).name} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}"
            )
        return result


@contextmanager
def temporary_cluster(prefix: str = "spantally-") -> Iterator[ManagedCluster]:
    """A running cluster in a new temporary directory on a free loopback port, removed on exit:
    for tests and benchmarks that need a database of their own."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    home = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        cluster = ManagedCluster(ClusterConfig(home=home, port=port))
        cluster.ensure_started()
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)
