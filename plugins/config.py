"""Connection and session settings, resolved once from Locust's parsed options.

The defaults live here and nowhere else: the option definitions
(``options.py``) show them, ``DbConfig.from_options`` applies them. Engine
defaults fit the local MariaDB and PostgreSQL; the scenario supplies the
database name. A setting comes from the option when one was given, then from
the Secrets Manager secret, then from the default. The password is kept out of
``repr`` so a config can be logged safely.
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
DEFAULT_HOST = "127.0.0.1"
DEFAULT_CONNECT_TIMEOUT = 10.0  # seconds
DEFAULT_QUERY_MODE = "prepared"
DEFAULT_RETRIES = 2  # times a retryable failure is run again
DEFAULT_BACKOFF = 0.25  # seconds, doubled per consecutive failure
DEFAULT_BACKOFF_MAX = 1.0  # seconds
DEFAULT_QUERY_TIMEOUT = 10.0  # seconds; README "Deadlines" says why
MAX_QUERY_TIMEOUT = 30.0  # a load test must see a failover while it happens


def _given(value, default):
    """An option's value, or ``default`` when it was not given (None; an empty web form field is "")."""
    return default if value is None or value == "" else value


@dataclass(frozen=True)
class DbConfig:
    engine: str
    host: str = DEFAULT_HOST
    port: int = 0
    user: str = ""
    password: str = field(default="", repr=False)
    database: str = ""
    reader_host: str | None = None
    reader_port: int | None = None
    ssl_ca: str | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    query_timeout: float = DEFAULT_QUERY_TIMEOUT  # --db-query-timeout: deadline of a statement or a transaction; 0 = none
    iam_region: str | None = None  # set: the password is an Aurora IAM token made at each connect
    prepare: bool = False  # server-side prepared statements (--db-query-mode prepared)
    retries: int = DEFAULT_RETRIES
    retry_backoff: float = DEFAULT_BACKOFF
    retry_backoff_max: float = DEFAULT_BACKOFF_MAX
    retry_also: tuple[str, ...] = ()  # error classes the scenario retries besides the retryable ones
    statement_stats: bool = False  # also report each statement of a transaction

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
                     iam_region: str | None = None, retry_also: tuple[str, ...] = ()) -> DbConfig:
        """Build from Locust options; options not given take the defaults above.

        ``secret`` (an RDS Secrets Manager JSON) supplies the user and password,
        and the host and port unless --db-host/--db-port are given.
        """
        secret = secret or {}
        get = lambda name: getattr(opts, name, None)  # noqa: E731
        retries = _given(get("db_retries"), DEFAULT_RETRIES)
        return cls(
            engine=engine,
            host=_given(get("db_host"), secret.get("host") or DEFAULT_HOST),
            port=int(_given(get("db_port"), secret.get("port") or DEFAULT_PORT[engine])),
            user=secret.get("username") or get("db_user") or DEFAULT_USER[engine],
            password=secret.get("password") or get("db_password") or "",
            database=get("db_name") or database,
            reader_host=get("db_reader_host") or None,
            reader_port=int(get("db_reader_port")) if get("db_reader_port") else None,
            ssl_ca=get("db_ssl_ca") or None,
            connect_timeout=float(_given(get("db_connect_timeout"), DEFAULT_CONNECT_TIMEOUT)),
            query_timeout=float(_given(get("db_query_timeout"), DEFAULT_QUERY_TIMEOUT)),
            iam_region=iam_region,
            prepare=_given(get("db_query_mode"), DEFAULT_QUERY_MODE) == "prepared",
            retries=max(0, int(retries)),
            retry_backoff=float(_given(get("db_retry_backoff"), DEFAULT_BACKOFF)),
            retry_backoff_max=float(_given(get("db_retry_backoff_max"), DEFAULT_BACKOFF_MAX)),
            retry_also=tuple(retry_also),
            statement_stats=bool(get("statement_stats")),
        )
