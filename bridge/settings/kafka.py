"""The Kafka cluster: how every client connects to it (security: `bridge.kafka_config`,
docs/operations.md) and the names of the topics the services share."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from bridge.settings.names import env_alias


class KafkaSettings(BaseModel):
    """Settings of Kafka connection and shared topic names (a section of `bridge.settings.Settings`)."""

    model_config = ConfigDict(frozen=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias=env_alias("KAFKA_BOOTSTRAP_SERVERS")
    )
    #: True when the caller did not name a cluster: `dev` then starts the local broker.
    kafka_embedded: bool = True
    kafka_local_version: str = "3.9.1"
    kafka_local_port: int = 9092
    kafka_local_dir: Path | None = None  # default: the user's cache directory

    # The ecosystem's names (as Kafka's own clients and most managed services document them).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", validation_alias=env_alias("KAFKA_SECURITY_PROTOCOL")
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] = Field(
        default="PLAIN", validation_alias=env_alias("KAFKA_SASL_MECHANISM")
    )
    kafka_sasl_username: str = Field(default="", validation_alias=env_alias("KAFKA_SASL_USERNAME"))
    kafka_sasl_password: SecretStr = Field(
        default=SecretStr(""), validation_alias=env_alias("KAFKA_SASL_PASSWORD")
    )
    #: File holding the SASL password (first line), read instead of `KAFKA_SASL_PASSWORD` when set.
    kafka_sasl_password_file: Path | None = Field(
        default=None, validation_alias=env_alias("KAFKA_SASL_PASSWORD_FILE")
    )
    #: OAUTHBEARER: dotted path `package.module:factory` of a callable taking the settings and
    #: returning an `aiokafka.abc.AbstractTokenProvider` (e.g. a cloud IAM signer).
    kafka_sasl_oauth_token_provider: str = Field(
        default="", validation_alias=env_alias("KAFKA_SASL_OAUTH_TOKEN_PROVIDER")
    )
    #: CA bundle that signed the brokers' certificates (empty: the system's trust store).
    kafka_ssl_cafile: Path | None = Field(default=None, validation_alias=env_alias("KAFKA_SSL_CAFILE"))
    #: Client certificate and key for mutual TLS (both or neither).
    kafka_ssl_certfile: Path | None = Field(default=None, validation_alias=env_alias("KAFKA_SSL_CERTFILE"))
    kafka_ssl_keyfile: Path | None = Field(default=None, validation_alias=env_alias("KAFKA_SSL_KEYFILE"))
    kafka_ssl_key_password: SecretStr = Field(
        default=SecretStr(""), validation_alias=env_alias("KAFKA_SSL_KEY_PASSWORD")
    )
    #: Check that a broker's certificate names the host connected to (the certificate is always verified).
    kafka_ssl_check_hostname: bool = Field(
        default=True, validation_alias=env_alias("KAFKA_SSL_CHECK_HOSTNAME")
    )

    input_topic: str = "vtex.orders.hooks"
    status_topic_prefix: str = "vtex.orders.status."
    #: Per-account status topics: a prefix holding `{account}`, e.g. `vtex.orders.{account}.status.`;
    #: each account of the registry then gets its own `<prefix><status>` topics. Empty (the default):
    #: every account shares the `status_topic_prefix` topics (`account` in the record and its header).
    status_topic_account_prefix: str = ""
    dead_letter_topic: str = "vtex.orders.deadletter"
    input_topic_partitions: int = 12

    def status_topic(self, suffix: str) -> str:
        """Return the downstream topic name for a routing suffix (a status or `unknown`)."""
        return f"{self.status_topic_prefix}{suffix}"
