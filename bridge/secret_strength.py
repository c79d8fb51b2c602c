"""Whether a shared secret is strong enough to guard a production endpoint (fail closed).

A secret that an attacker can guess (the README's public default, `CHANGEME` from an example manifest,
`password123…`) is no secret. Outside the `dev` profile (`Settings.profile`) the ingress refuses to
start with such a hook secret; the same rule serves any other shared token of the bridge.

"Random-looking" is checked, not proven: at least `MIN_LENGTH` characters, at least `MIN_DISTINCT`
different ones, no character making up half of it or more, and no placeholder word. A value from
`python -c 'import secrets; print(secrets.token_urlsafe(32))'` or `openssl rand -hex 16` passes.

Pure functions, no I/O; messages never contain the secret.
"""

from __future__ import annotations

from collections import Counter
from typing import Final

MIN_LENGTH: Final = 24
MIN_DISTINCT: Final = 8
#: Fragments of placeholders and example values (compared case-insensitively, ignoring `-` and `_`).
PLACEHOLDER_WORDS: Final = (
    "changeme",
    "placeholder",
    "example",
    "replace",
    "password",
    "notasecret",
    "localdev",
    "yoursecret",
    "mysecret",
    "secretvalue",
    "default",
)
#: How to make one, quoted in every refusal.
HOW_TO_MAKE: Final = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def secret_problem(value: str) -> str | None:
    """Return why `value` is too weak (a phrase, no part of the value), or None when it is acceptable."""
    if not value:
        return "is empty"
    if len(value) < MIN_LENGTH:
        return f"is too short ({len(value)} characters; at least {MIN_LENGTH} random ones are needed)"
    folded = value.lower().replace("-", "").replace("_", "")
    if any(word in folded for word in PLACEHOLDER_WORDS):
        return "looks like a placeholder or example value"
    counts = Counter(value)
    if len(counts) < MIN_DISTINCT:
        return f"does not look random (fewer than {MIN_DISTINCT} different characters)"
    if max(counts.values()) * 2 >= len(value):  # a third refused 1 in ~18,000 `token_hex(16)` values
        return "does not look random (one character makes up half of it or more)"
    return None


def weak_secret_message(variable: str, problem: str) -> str:
    """Return the refusal for the secret configured as `variable`: what is wrong and what to set."""
    return (
        f"{variable} {problem}: set {variable} to at least {MIN_LENGTH} random characters "
        f"(e.g. `{HOW_TO_MAKE}`), or VTEX_BRIDGE_PROFILE=dev for local use with the simulator"
    )
