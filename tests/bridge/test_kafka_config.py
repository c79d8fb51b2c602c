"""bridge.kafka_config: the settings become aiokafka's and Faust's security kwargs, or a clear error."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka.abc import AbstractTokenProvider

from bridge import kafka_config
from bridge.kafka_config import KafkaConfigError, client_kwargs, faust_credentials, security_kwargs
from bridge.settings import Settings, load_settings


class StaticToken(AbstractTokenProvider):  # type: ignore[misc]
    async def token(self) -> str:
        return "token"


def make_provider(settings: Settings) -> StaticToken:
    return StaticToken()


def not_a_provider(settings: Settings) -> object:
    return object()


def settings(**values: Any) -> Settings:
    return load_settings(kafka_embedded=False, **values)


def test_plaintext_is_aiokafkas_default() -> None:
    assert client_kwargs(settings(kafka_bootstrap_servers="b:9092")) == {"bootstrap_servers": "b:9092"}
    assert faust_credentials(settings()) is None


def test_sasl_ssl_scram_builds_a_verifying_context_and_credentials() -> None:
    config = settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="ingress",
        kafka_sasl_password="s3cret",
    )
    kwargs = security_kwargs(config)
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("ingress", "s3cret")
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    credentials = faust_credentials(config)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL" and credentials.mechanism.value == "SCRAM-SHA-512"
    assert "s3cret" not in repr(credentials)


def test_the_password_file_wins_and_is_read_fresh(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-file\n")
    config = settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="worker",
        kafka_sasl_password="ignored",
        kafka_sasl_password_file=secret,
    )
    kwargs = security_kwargs(config)
    assert kwargs["sasl_plain_password"] == "from-file"
    assert "ssl_context" not in kwargs
    assert faust_credentials(config).protocol.value == "SASL_PLAINTEXT"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "KAFKA_SASL_USERNAME is required"),
        ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "u"}, "KAFKA_SASL_PASSWORD"),
        (
            {
                "kafka_security_protocol": "SASL_SSL",
                "kafka_sasl_username": "u",
                "kafka_sasl_password_file": "/nope",
            },
            "KAFKA_SASL_PASSWORD_FILE /nope cannot be read",
        ),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "/nope.pem"}, "KAFKA_SSL_CAFILE /nope.pem"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_certfile": "/c.pem"}, "go together"),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "OAUTHBEARER"},
            "KAFKA_SASL_OAUTH_TOKEN_PROVIDER is required",
        ),
        (
            {
                "kafka_security_protocol": "SASL_SSL",
                "kafka_sasl_mechanism": "OAUTHBEARER",
                "kafka_sasl_oauth_token_provider": "tests.bridge.test_kafka_config:missing",
            },
            "cannot be imported",
        ),
        (
            {
                "kafka_security_protocol": "SASL_SSL",
                "kafka_sasl_mechanism": "OAUTHBEARER",
                "kafka_sasl_oauth_token_provider": "tests.bridge.test_kafka_config:not_a_provider",
            },
            "not an aiokafka.abc.AbstractTokenProvider",
        ),
    ],
)
def test_incomplete_security_fails_closed_naming_the_setting(values: dict[str, Any], message: str) -> None:
    with pytest.raises(KafkaConfigError, match=message):
        security_kwargs(settings(**values))


def test_a_cafile_without_certificates_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    with pytest.raises(KafkaConfigError, match="holds no usable certificate"):
        security_kwargs(settings(kafka_security_protocol="SSL", kafka_ssl_cafile=bogus))


def test_oauthbearer_uses_one_provider_per_process() -> None:
    config = settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="OAUTHBEARER",
        kafka_sasl_oauth_token_provider="tests.bridge.test_kafka_config:make_provider",
    )
    first, second = security_kwargs(config), security_kwargs(config)
    assert isinstance(first["sasl_oauth_token_provider"], StaticToken)
    assert first["sasl_oauth_token_provider"] is second["sasl_oauth_token_provider"]
    assert isinstance(faust_credentials(config), faust.OAuthCredentials)


def test_installed_security_follows_the_bootstrap_string() -> None:
    config = settings(
        kafka_bootstrap_servers="secured:9093",
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="u",
        kafka_sasl_password="p",
    )
    kafka_config.install(config)
    assert client_kwargs("secured:9093")["sasl_plain_username"] == "u"
    # A bootstrap nobody installed connects in plaintext, which a secured cluster refuses.
    assert client_kwargs("other:9092") == {"bootstrap_servers": "other:9092"}


def test_secrets_stay_masked_in_the_public_view() -> None:
    view = settings(kafka_sasl_password="s3cret", kafka_ssl_key_password="k3y").public_view()
    assert view["kafka_sasl_password"] == "**********"
    assert view["kafka_ssl_key_password"] == "**********"
    assert "s3cret" not in repr(view)
    assert (
        kafka_config.describe(
            settings(
                kafka_security_protocol="SASL_SSL", kafka_sasl_username="ingress", kafka_sasl_password="x"
            )
        )
        == "SASL_SSL PLAIN as ingress"
    )


def test_refusals_are_explained_with_the_missing_permission() -> None:
    from aiokafka.errors import (
        ClusterAuthorizationFailedError,
        KafkaConnectionError,
        SaslAuthenticationFailed,
        TopicAuthorizationFailedError,
        TransactionalIdAuthorizationFailed,
    )

    assert "topic ACL" in (kafka_config.explain(TopicAuthorizationFailedError("orders.in")) or "")
    assert "orders.in" in (kafka_config.explain(TopicAuthorizationFailedError("orders.in")) or "")
    assert "IDEMPOTENT_WRITE" in (kafka_config.explain(ClusterAuthorizationFailedError()) or "")
    assert "transactional ids" in (kafka_config.explain(TransactionalIdAuthorizationFailed()) or "")
    assert "KAFKA_SASL_PASSWORD" in (kafka_config.explain(SaslAuthenticationFailed()) or "")
    assert kafka_config.explain(KafkaConnectionError("down")) is None


async def test_an_unreachable_cluster_is_no_verdict_on_the_credentials() -> None:
    from bridge.local_kafka import free_port

    config = settings(
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="u",
        kafka_sasl_password="p",
    )
    await kafka_config.verify_credentials(config, timeout_s=2.0)  # returns: the service retries later
