"""The TLS and SCRAM material of a secured local cluster: a CA, the brokers' keystore, one user per service.

Made once per directory with the JDK's keytool and kept there (passwords in `users.json` and in one
`<user>.password` file each), so parallel test runs and a detached cluster share it instead of
regenerating certificates every start.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.local_kafka.distribution import file_lock
from bridge.local_kafka.errors import LocalKafkaError


@dataclass(frozen=True)
class LocalSecurity:
    """A local CA, the brokers' TLS keystore and the SCRAM users of a secured local cluster.

    `generate` makes them once per directory with the JDK's keytool (a CA, one broker certificate for
    127.0.0.1 and localhost signed by it); `users` maps each principal to its password, written to
    `users.json` next to `ca.pem` and, one per user, to `<user>.password` (what
    `KAFKA_SASL_PASSWORD_FILE` reads; local use only). `admin` is the super user that manages ACLs.
    """

    directory: Path
    password: str
    users: dict[str, str]
    admin: str = "admin"

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def keystore(self) -> Path:
        return self.directory / "broker.p12"

    def password_file(self, user: str) -> Path:
        """The file holding `user`'s password alone (for `KAFKA_SASL_PASSWORD_FILE`)."""
        return self.directory / f"{user}.password"

    def broker_properties(self, sasl_port: int) -> dict[str, str]:
        """Return the server properties of the SASL_SSL listener and the authorizer."""
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        return {
            "sasl.enabled.mechanisms": "SCRAM-SHA-512,SCRAM-SHA-256",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram,
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": scram,
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(self.keystore),
            "ssl.keystore.password": self.password,
            "ssl.key.password": self.password,
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            # The internal plaintext listener (loopback only) and the admin are trusted.
            "super.users": f"User:ANONYMOUS;User:{self.admin}",
        }

    def format_arguments(self) -> list[str]:
        """Return `kafka-storage format` arguments creating every user (both SCRAM mechanisms)."""
        arguments: list[str] = []
        for name, password in sorted(self.users.items()):
            for mechanism in ("SCRAM-SHA-512", "SCRAM-SHA-256"):
                arguments += ["--add-scram", f"{mechanism}=[name={name},password={password}]"]
        return arguments

    @classmethod
    def generate(cls, directory: Path, users: Iterable[str] = ()) -> LocalSecurity:
        """Return the security material in `directory`, creating what is missing (users: new ones)."""
        directory.mkdir(parents=True, exist_ok=True)
        with file_lock(directory.parent / f"{directory.name}.lock"):  # shared by parallel test runs
            users_file = directory / "users.json"
            known: dict[str, Any] = json.loads(users_file.read_text()) if users_file.exists() else {}
            password = str(known.get("store_password") or uuid.uuid4().hex)
            passwords: dict[str, str] = dict(known.get("users", {}))
            for name in ("admin", *users):
                passwords.setdefault(name, uuid.uuid4().hex)
            security = cls(directory=directory, password=password, users=passwords)
            if not security.keystore.exists() or not security.ca_file.exists():
                _keytool_certificates(directory, password)
            users_file.write_text(json.dumps({"store_password": password, "users": passwords}, indent=2))
            users_file.chmod(0o600)
            for name, secret in passwords.items():
                path = security.password_file(name)
                path.touch(mode=0o600)
                path.write_text(secret + "\n")
        return security


def _keytool_certificates(directory: Path, password: str) -> None:
    """Make a CA (`ca.pem`) and a broker keystore (`broker.p12`) whose certificate the CA signed."""
    if shutil.which("keytool") is None:
        raise LocalKafkaError("keytool (part of the JDK) is not on PATH: it makes the local certificates")
    names = "SAN=dns:localhost,ip:127.0.0.1"
    common = ["-storepass", password, "-keypass", password, "-storetype", "PKCS12"]
    ca, broker = str(directory / "ca.p12"), str(directory / "broker.p12")
    csr, signed, ca_pem = (str(directory / n) for n in ("broker.csr", "broker.crt", "ca.pem"))
    for path in (ca, broker):
        Path(path).unlink(missing_ok=True)
    steps = [
        ["-genkeypair", "-alias", "ca", "-keystore", ca, "-keyalg", "RSA", "-keysize", "2048",
         "-dname", "CN=vtex-bridge local CA", "-ext", "bc:c", "-validity", "3650", *common],
        ["-exportcert", "-alias", "ca", "-keystore", ca, "-rfc", "-file", ca_pem, *common],
        ["-genkeypair", "-alias", "broker", "-keystore", broker, "-keyalg", "RSA", "-keysize", "2048",
         "-dname", "CN=localhost", "-ext", names, "-validity", "3650", *common],
        ["-certreq", "-alias", "broker", "-keystore", broker, "-file", csr, *common],
        ["-gencert", "-alias", "ca", "-keystore", ca, "-infile", csr, "-outfile", signed, "-rfc",
         "-ext", names, "-validity", "3650", *common],
        ["-importcert", "-alias", "ca", "-keystore", broker, "-file", ca_pem, "-noprompt", *common],
        ["-importcert", "-alias", "broker", "-keystore", broker, "-file", signed, "-noprompt", *common],
    ]  # fmt: skip
    for step in steps:
        done = subprocess.run(["keytool", *step], capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise LocalKafkaError(f"keytool {step[0]} failed: {(done.stdout + done.stderr)[-1000:]}")
