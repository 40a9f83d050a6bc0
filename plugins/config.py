"""Connection settings, resolved once from Locust's parsed options.

Engine defaults fit the local MariaDB and PostgreSQL; the scenario supplies
the database name. The password is kept out of ``repr`` so a config can be
logged safely.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MYSQL = "mysql"
POSTGRES = "postgres"
ENGINES = (MYSQL, POSTGRES)
QUERY_MODES = ("prepared", "simple")

DEFAULT_PORT = {MYSQL: 3306, POSTGRES: 5432}
DEFAULT_USER = {MYSQL: "root", POSTGRES: "postgres"}
LABEL = {MYSQL: "MySQL", POSTGRES: "PostgreSQL"}


@dataclass(frozen=True)
class DbConfig:
    engine: str
    host: str = "127.0.0.1"
    port: int = 0
    user: str = ""
    password: str = field(default="", repr=False)
    database: str = ""
    reader_host: str | None = None
    reader_port: int | None = None
    ssl_ca: str | None = None
    connect_timeout: float = 10.0
    iam_region: str | None = None  # set: the password is an Aurora IAM token made at each connect
    prepare: bool = False  # server-side prepared statements (--db-query-mode prepared)

    @property
    def label(self) -> str:
        return LABEL[self.engine]

    @property
    def has_reader(self) -> bool:
        return bool(self.reader_host)

    def endpoint(self, reader: bool = False) -> tuple[str, int]:
        if reader and self.reader_host:
            return self.reader_host, self.reader_port or self.port
        return self.host, self.port

    def where(self, reader: bool = False) -> str:
        host, port = self.endpoint(reader)
        return f"{host}:{port}"

    @classmethod
    def from_options(cls, opts, engine: str, database: str, secret: dict | None = None,
                     iam_region: str | None = None) -> DbConfig:
        """Build from Locust options; ``None`` options take the engine defaults.

        ``secret`` (an RDS Secrets Manager JSON) supplies the user and password,
        and the host and port unless --db-host/--db-port say otherwise.
        """
        secret = secret or {}
        host = opts.db_host or "127.0.0.1"
        if secret.get("host") and host == "127.0.0.1":
            host = secret["host"]
        port = opts.db_port or secret.get("port") or DEFAULT_PORT[engine]
        return cls(
            engine=engine,
            host=host,
            port=int(port),
            user=secret.get("username") or opts.db_user or DEFAULT_USER[engine],
            password=secret.get("password") or opts.db_password or "",
            database=opts.db_name or database,
            reader_host=opts.db_reader_host or None,
            reader_port=int(opts.db_reader_port) if opts.db_reader_port else None,
            ssl_ca=opts.db_ssl_ca or None,
            connect_timeout=float(opts.db_connect_timeout or 10.0),
            iam_region=iam_region,
            prepare=(getattr(opts, "db_query_mode", None) or "prepared") == "prepared",
        )
