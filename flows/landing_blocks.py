"""Prefect blocks holding a landing area's credentials, read in the flow's own process (never a
task parameter or result): pipelines/intake/remote.py calls `read_block` for a landing area whose
settings or contract name a `credentials_block`."""

from __future__ import annotations


def read_block(scheme: str, name: str) -> dict[str, str | None]:
    """S3: an AwsCredentials block (prefect-aws); SFTP: a Secret block holding a private key
    (OpenSSH or PEM text) or a password."""
    if scheme == "s3":
        from prefect_aws import AwsCredentials

        creds = AwsCredentials.load(name)
        params = creds.aws_client_parameters
        return {
            "key": creds.aws_access_key_id,
            "secret": _plain(creds.aws_secret_access_key),
            "token": _plain(creds.aws_session_token),
            "profile": creds.profile_name,
            "region_name": creds.region_name,
            "endpoint_url": params.endpoint_url if params else None,
        }
    from prefect.blocks.system import Secret

    value = Secret.load(name).get()  # type: ignore[union-attr]
    return {"secret": str(value)}


def _plain(value: object) -> str | None:
    if value is None:
        return None
    reveal = getattr(value, "get_secret_value", None)
    return str(reveal() if reveal else value)
