"""Database credentials that never pass through the command line.

``--db-secret-id`` reads the JSON secret RDS writes to AWS Secrets Manager
(username, password, host, port, dbname, engine) once per process, so a
password never sits in a shell history, a locust.conf or a k8s manifest.
``--db-iam-auth`` makes the password a short-lived Aurora IAM token signed
by boto3 (``generate_db_auth_token``) at each connect; the server only
accepts it over TLS, so it requires ``--db-ssl-ca``. The endpoint of Secrets
Manager follows boto3 (``AWS_ENDPOINT_URL_SECRETS_MANAGER``) or
``--db-secret-endpoint`` (tests point it at a local moto server).

Nothing here logs or formats a secret value: errors name the option, the
secret id and AWS's error code only.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from urllib.parse import urlparse

from locust import events

from .options import option_group, validator

_RDS_HOST = re.compile(r"\.([a-z]{2}(?:-gov)?-[a-z]+-\d)\.rds\.amazonaws\.com\.?$")
_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):")
_secrets: dict = {}
_rds_clients: dict = {}


class CredentialsError(Exception):
    """A credentials problem; str() is one line naming the option, with no secret in it."""


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    # Launch-only: the secret and the IAM settings are resolved for the launch, so the web form does not offer them.
    add = functools.partial(option_group(parser, "dbswarm credentials", "Where the database user and password come from"), web=False)
    add("db-secret-id", default=None,
        help="AWS Secrets Manager secret (name or ARN) with the RDS JSON: username, password, host, port, dbname")
    add("db-secret-endpoint", default=None, help="Secrets Manager endpoint URL (default: AWS, or AWS_ENDPOINT_URL_SECRETS_MANAGER)")
    add("db-iam-auth", action="store_true", default=False,
        help="Log in with an Aurora IAM token (boto3 generate_db_auth_token) instead of a password; needs --db-ssl-ca")
    add("aws-region", default=None, help="AWS region for Secrets Manager and IAM tokens (default: from the ARN, the RDS host name or AWS_REGION)")


def region_for(opts, host: str | None = None) -> str | None:
    """The region: --aws-region, the secret's ARN, the RDS host name, then boto3's own configuration."""
    region = getattr(opts, "aws_region", None)
    if region:
        return region
    match = _ARN_REGION.match(getattr(opts, "db_secret_id", None) or "")
    if match:
        return match.group(1)
    match = _RDS_HOST.search(host or "")
    if match:
        return match.group(1)
    import boto3

    return boto3.session.Session().region_name


def _endpoint_problem(url: str) -> str | None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return f"--db-secret-endpoint {url}: not an http(s) URL"
    try:
        parsed.port
    except ValueError:
        return f"--db-secret-endpoint {url}: bad port"
    return None


@validator
def validate(opts) -> list[str]:
    """Option problems, one line each (no AWS call)."""
    problems = []
    endpoint = getattr(opts, "db_secret_endpoint", None)
    if endpoint:
        problem = _endpoint_problem(endpoint)
        if problem:
            problems.append(problem)
    if getattr(opts, "db_iam_auth", False):
        if not getattr(opts, "db_ssl_ca", None):
            problems.append("--db-iam-auth: Aurora accepts IAM tokens only over TLS; give --db-ssl-ca (the RDS CA bundle)")
        if getattr(opts, "db_password", None):
            problems.append("--db-iam-auth: do not give --db-password as well (the token is the password)")
    if getattr(opts, "db_secret_id", None) or getattr(opts, "db_iam_auth", False):
        if not problems and not region_for(opts, getattr(opts, "db_host", None)):
            flag = "--db-secret-id" if getattr(opts, "db_secret_id", None) else "--db-iam-auth"
            problems.append(f"{flag}: no AWS region (give --aws-region or set AWS_REGION)")
    return problems


def secret(opts) -> dict:
    """The secret's JSON (cached per process); raise CredentialsError."""
    secret_id = getattr(opts, "db_secret_id", None)
    if not secret_id:
        return {}
    endpoint = getattr(opts, "db_secret_endpoint", None)
    key = (secret_id, endpoint, getattr(opts, "aws_region", None))
    if key not in _secrets:
        _secrets[key] = _fetch(secret_id, endpoint, region_for(opts))
    return _secrets[key]


def _quiet_botocore() -> None:
    """botocore's DEBUG log prints whole responses, i.e. the secret: never below INFO."""
    for name in ("botocore", "boto3", "urllib3"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)


def _fetch(secret_id: str, endpoint: str | None, region: str | None) -> dict:
    import boto3
    import botocore.exceptions

    _quiet_botocore()
    try:
        client = boto3.client("secretsmanager", region_name=region, endpoint_url=endpoint or None)
        text = client.get_secret_value(SecretId=secret_id).get("SecretString") or ""
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise CredentialsError(f"--db-secret-id {secret_id}: Secrets Manager refused ({code})") from None
    except botocore.exceptions.NoCredentialsError:
        raise CredentialsError(f"--db-secret-id {secret_id}: no AWS credentials found") from None
    except (botocore.exceptions.BotoCoreError, ValueError) as exc:
        raise CredentialsError(f"--db-secret-id {secret_id}: cannot reach Secrets Manager ({type(exc).__name__})") from None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not data.get("username") or "password" not in data:
        raise CredentialsError(f"--db-secret-id {secret_id}: not an RDS secret (JSON with username and password)")
    return data


def iam_token(host: str, port: int, user: str, region: str) -> str:
    """A 15-minute Aurora IAM auth token, signed locally with the process's AWS credentials."""
    client = _rds_clients.get(region)
    if client is None:
        import boto3

        _quiet_botocore()
        client = _rds_clients[region] = boto3.client("rds", region_name=region)
    return client.generate_db_auth_token(DBHostname=host, Port=port, DBUsername=user, Region=region)
