"""The one place that turns the settings into how every Kafka client connects (security included).

Every aiokafka client of the bridge (ingress and feed-poller producers, the worker's consumer, writers
and admin, replay, console, backfill, `topics`, the dev view, the local broker's probe) is built with
`client_kwargs(...)`: `bootstrap_servers` plus `security_protocol`, the SASL mechanism and credentials
and an `ssl_context`. The Faust worker gets the same through `faust_credentials(settings)` (Faust passes
its `broker_credentials` to its consumer, its producers, transactional ones included, and its admin
requests).

Most call sites hold the settings; a few deep ones (a partition's writer, the generation reader) carry
only the bootstrap string. For those, `install(settings)`, run once per process by the CLI, records the
security of that cluster, and `client_kwargs("host:port,...")` finds it again. A bootstrap nobody
installed connects in plaintext, which a secured cluster refuses: a forgotten call site fails closed.

Secrets (the SASL password, the key's password) come from `SecretStr` settings or a file and exist in
plain text only inside the returned kwargs, which nothing logs.
"""

from __future__ import annotations

import asyncio
import importlib
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from aiokafka.errors import KafkaError

if TYPE_CHECKING:
    from bridge.settings import KafkaSettings, Settings

SASL_PROTOCOLS: Final = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
TLS_PROTOCOLS: Final = frozenset({"SSL", "SASL_SSL"})

#: Security kwargs by bootstrap string, recorded by `install` for call sites that hold only that.
_installed: dict[str, dict[str, Any]] = {}
#: OAUTHBEARER providers by dotted path: one per process, so its token is reused and refreshed once.
_providers: dict[str, Any] = {}


class KafkaConfigError(ValueError):
    """The Kafka security settings are incomplete or unreadable; the message names the setting."""


def install(settings: Settings) -> None:
    """Record this process's cluster security (validating it now, so a mistake fails at start)."""
    _installed[settings.kafka_bootstrap_servers] = security_kwargs(settings)


def client_kwargs(source: Settings | str) -> dict[str, Any]:
    """Return `bootstrap_servers` and the security kwargs for an aiokafka client.

    `source` is the settings, or a bootstrap string whose security `install` recorded (plaintext when
    none was: a secured cluster then refuses the connection rather than the bridge skipping security).
    """
    if isinstance(source, str):
        return {"bootstrap_servers": source, **_installed.get(source, {})}
    return {"bootstrap_servers": source.kafka_bootstrap_servers, **security_kwargs(source)}


def security_kwargs(settings: Settings) -> dict[str, Any]:
    """Return aiokafka's security kwargs for `settings` (empty for PLAINTEXT, aiokafka's default)."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    kwargs: dict[str, Any] = {"security_protocol": protocol}
    if protocol in TLS_PROTOCOLS:
        kwargs["ssl_context"] = ssl_context(settings)
    if protocol in SASL_PROTOCOLS:
        mechanism = settings.kafka_sasl_mechanism
        kwargs["sasl_mechanism"] = mechanism
        if mechanism == "OAUTHBEARER":
            kwargs["sasl_oauth_token_provider"] = token_provider(settings)
        else:
            if not settings.kafka_sasl_username:
                raise KafkaConfigError(f"KAFKA_SASL_USERNAME is required with {protocol} / {mechanism}")
            kwargs["sasl_plain_username"] = settings.kafka_sasl_username
            kwargs["sasl_plain_password"] = sasl_password(settings)
    return kwargs


def sasl_password(settings: KafkaSettings) -> str:
    """Return the SASL password: the first line of `KAFKA_SASL_PASSWORD_FILE`, else the setting."""
    path = settings.kafka_sasl_password_file
    if path is not None:
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise KafkaConfigError(
                f"KAFKA_SASL_PASSWORD_FILE {path} cannot be read: {exc.strerror}"
            ) from None
        password = lines[0].strip() if lines else ""
        if not password:
            raise KafkaConfigError(f"KAFKA_SASL_PASSWORD_FILE {path} is empty")
        return password
    password = settings.kafka_sasl_password.get_secret_value()
    if not password:
        raise KafkaConfigError("KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE) is required with SASL")
    return password


def ssl_context(settings: KafkaSettings) -> ssl.SSLContext:
    """Return a verifying TLS context: the CA file (else the system's), an optional client certificate."""
    cafile = settings.kafka_ssl_cafile
    _readable(cafile, "KAFKA_SSL_CAFILE")
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cafile) if cafile else None)
    except ssl.SSLError as exc:
        raise KafkaConfigError(f"KAFKA_SSL_CAFILE {cafile} holds no usable certificate: {exc}") from None
    certfile, keyfile = settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile
    if (certfile is None) != (keyfile is None):
        raise KafkaConfigError("KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together (mutual TLS)")
    if certfile is not None and keyfile is not None:
        _readable(certfile, "KAFKA_SSL_CERTFILE")
        _readable(keyfile, "KAFKA_SSL_KEYFILE")
        password = settings.kafka_ssl_key_password.get_secret_value() or None
        try:
            context.load_cert_chain(str(certfile), str(keyfile), password=password)
        except ssl.SSLError as exc:
            raise KafkaConfigError(
                f"KAFKA_SSL_CERTFILE/KAFKA_SSL_KEYFILE do not load (wrong key or password?): {exc}"
            ) from None
    # The chain is always verified (CERT_REQUIRED); only the name check can be turned off, for
    # brokers reached by an address their certificate does not name.
    context.check_hostname = settings.kafka_ssl_check_hostname
    return context


def token_provider(settings: Settings) -> Any:
    """Build the OAUTHBEARER token provider named by `KAFKA_SASL_OAUTH_TOKEN_PROVIDER`."""
    from aiokafka.abc import AbstractTokenProvider

    path = settings.kafka_sasl_oauth_token_provider
    if not path:
        raise KafkaConfigError("KAFKA_SASL_OAUTH_TOKEN_PROVIDER is required with OAUTHBEARER")
    if path in _providers:
        return _providers[path]
    factory = _import(path)
    provider = factory(settings)
    if not isinstance(provider, AbstractTokenProvider):
        raise KafkaConfigError(
            f"KAFKA_SASL_OAUTH_TOKEN_PROVIDER {path} returned {type(provider).__name__}, "
            "not an aiokafka.abc.AbstractTokenProvider"
        )
    _providers[path] = provider
    return provider


def faust_credentials(settings: Settings) -> Any:
    """Return Faust's `broker_credentials` for `settings` (None for PLAINTEXT)."""
    import faust

    kwargs = security_kwargs(settings)
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(kwargs["ssl_context"])
    context = kwargs.get("ssl_context")  # SASL_SSL: Faust picks SASL_SSL when a context is given
    if settings.kafka_sasl_mechanism == "OAUTHBEARER":
        return faust.OAuthCredentials(oauth_cb=kwargs["sasl_oauth_token_provider"], ssl_context=context)
    return faust.SASLCredentials(
        username=kwargs["sasl_plain_username"],
        password=kwargs["sasl_plain_password"],
        ssl_context=context,
        mechanism=kwargs["sasl_mechanism"],
    )


#: What each refusal by the cluster means for an operator (the ACL a principal lacks, or its password).
_REFUSALS: Final = {
    "SaslAuthenticationFailed": (
        "Kafka rejected the SASL credentials: check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD(_FILE) and "
        "KAFKA_SASL_MECHANISM"
    ),
    "TopicAuthorizationFailedError": (
        "the principal lacks a topic ACL (READ, WRITE or DESCRIBE on the topic named): "
        "`vtex-bridge topics acls plan` lists what each service needs"
    ),
    "GroupAuthorizationFailedError": (
        "the principal lacks READ on its consumer group: `vtex-bridge topics acls plan` lists it"
    ),
    "TransactionalIdAuthorizationFailed": (
        "the principal lacks WRITE on its transactional ids (prefix: the worker app id): "
        "`vtex-bridge topics acls plan` lists it"
    ),
    "ClusterAuthorizationFailedError": (
        "the principal lacks IDEMPOTENT_WRITE on the cluster, which WRITE on any topic implies: "
        "it may write no topic at all; `vtex-bridge topics acls plan` lists what each service needs"
    ),
}


def explain(exc: BaseException) -> str | None:
    """Return what an authentication or authorization refusal means and how to fix it (else None)."""
    for kind in type(exc).__mro__:
        if kind.__name__ in _REFUSALS:
            return f"{_REFUSALS[kind.__name__]} ({exc})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"the broker's certificate is not trusted or names another host: check KAFKA_SSL_CAFILE ({exc})"
        )
    return None


async def verify_credentials(settings: Settings, timeout_s: float = 10.0) -> None:
    """Fail fast on credentials or certificates the cluster refuses; an unreachable cluster passes.

    The services keep retrying while Kafka is down (it may come back), but a wrong password or an
    untrusted certificate never fixes itself: each would otherwise be an endless, quiet retry loop.
    One connection (TLS handshake and SASL authentication) to the first bootstrap address that answers.
    """
    if settings.kafka_security_protocol == "PLAINTEXT":
        return
    from aiokafka.errors import SaslAuthenticationFailed

    from bridge.aiokafka_fixes import open_connection

    kwargs = security_kwargs(settings)
    for address in settings.kafka_bootstrap_servers.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            connecting = open_connection(host, int(port), request_timeout_ms=int(timeout_s * 1000), **kwargs)
            conn = await asyncio.wait_for(connecting, timeout_s)
        except (SaslAuthenticationFailed, ssl.SSLCertVerificationError) as exc:
            raise KafkaConfigError(f"{settings.kafka_bootstrap_servers}: {explain(exc)}") from None
        except (OSError, TimeoutError, ValueError, KafkaError):
            continue  # not reachable now: the service's own retries deal with that
        conn.close()
        return


def describe(settings: KafkaSettings) -> str:
    """Return a one-line, secret-free description of how clients connect (for logs and errors)."""
    protocol = settings.kafka_security_protocol
    if protocol not in SASL_PROTOCOLS:
        return protocol
    who = settings.kafka_sasl_username or settings.kafka_sasl_oauth_token_provider
    return f"{protocol} {settings.kafka_sasl_mechanism} as {who}"


def _readable(path: Path | None, name: str) -> None:
    if path is not None and not path.is_file():
        raise KafkaConfigError(f"{name} {path} does not exist or is not a file")


def _import(path: str) -> Callable[..., Any]:
    module_name, sep, attribute = path.partition(":")
    if not sep:
        module_name, _, attribute = path.rpartition(".")
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise KafkaConfigError(f"KAFKA_SASL_OAUTH_TOKEN_PROVIDER {path} cannot be imported: {exc}") from None
    if not callable(target):
        raise KafkaConfigError(f"KAFKA_SASL_OAUTH_TOKEN_PROVIDER {path} is not callable")
    return target  # type: ignore[no-any-return]
