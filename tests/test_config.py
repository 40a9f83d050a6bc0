"""Where a connection setting comes from: the option when given, then the Secrets Manager secret, then the default."""

from __future__ import annotations

from types import SimpleNamespace

from plugins.config import DEFAULT_CONNECT_TIMEOUT, DEFAULT_HOST, DEFAULT_RETRIES, MYSQL, POSTGRES, DbConfig

SECRET = {"username": "app", "password": "pw", "host": "writer.cluster-x.us-east-1.rds.amazonaws.com", "port": 3307}


def opts(**given):
    """Parsed options as Locust leaves them when nothing is given (defaults None, as options.py declares)."""
    base = dict(db_host=None, db_port=None, db_user=None, db_password="", db_name=None, db_reader_host=None,
                db_reader_port=None, db_ssl_ca=None, db_connect_timeout=DEFAULT_CONNECT_TIMEOUT, db_query_mode=None,
                db_retries=DEFAULT_RETRIES, db_retry_backoff=0.25, db_retry_backoff_max=1.0, statement_stats=False)
    return SimpleNamespace(**(base | given))


def test_an_explicit_host_wins_over_the_secret_even_when_it_is_the_defaults_value():
    cfg = DbConfig.from_options(opts(db_host="127.0.0.1"), MYSQL, "shop", SECRET)
    assert cfg.host == "127.0.0.1" and cfg.port == 3307 and cfg.user == "app"


def test_the_secret_wins_over_the_default():
    cfg = DbConfig.from_options(opts(), MYSQL, "shop", SECRET)
    assert (cfg.host, cfg.port) == (SECRET["host"], 3307)


def test_the_default_when_neither_is_given():
    cfg = DbConfig.from_options(opts(), POSTGRES, "shop")
    assert (cfg.host, cfg.port, cfg.user, cfg.database) == (DEFAULT_HOST, 5432, "postgres", "shop")


def test_an_empty_web_form_field_means_not_given():
    # Locust's web form posts every option back; a blank field arrives as "".
    cfg = DbConfig.from_options(opts(db_host="", db_port=""), MYSQL, "shop", SECRET)
    assert (cfg.host, cfg.port) == (SECRET["host"], 3307)


def test_session_settings_are_resolved_once_into_the_config():
    cfg = DbConfig.from_options(opts(db_retries=0, db_retry_backoff=0.5, db_retry_backoff_max=2.0,
                                     statement_stats=True), MYSQL, "shop", retry_also=("duplicate-key",))
    assert (cfg.retries, cfg.retry_backoff, cfg.retry_backoff_max) == (0, 0.5, 2.0)
    assert cfg.statement_stats and cfg.retry_also == ("duplicate-key",)
    assert DbConfig.from_options(opts(db_retries=None), MYSQL, "shop").retries == DEFAULT_RETRIES
