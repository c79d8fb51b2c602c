"""Every Kafka name the bridge derives: topics, the worker's group and transactional ids.

The one place these f-strings live. Everything else (topic planning, the worker, the console, ACLs,
reshard, tests) calls these functions, so a name can never be spelled two ways. Pure: no I/O, and it
imports nothing but the settings, so the ingress, the CLI and the worker can all depend on it.

Names per generation: generation 1 uses the configured input topic and app id; generation N > 1 appends
`.gN` to the input topic and `-gN` to the app id. Everything keyed by the app id (changelogs, group,
transactional ids) follows its generation.
"""

from __future__ import annotations

from bridge.settings import KafkaSettings, Settings, WorkerSettings


def control_topic(settings: Settings) -> str:
    """Return the control topic's name (`generation_control_topic`, default `<input_topic>.control`)."""
    return settings.generation_control_topic or f"{settings.input_topic}.control"


def generation_topic(settings: KafkaSettings, number: int) -> str:
    """Return the input topic of generation `number` (generation 1 is `settings.input_topic`)."""
    return settings.input_topic if number == 1 else f"{settings.input_topic}.g{number}"


def generation_app_id(settings: WorkerSettings, number: int) -> str:
    """Return the worker app id (= consumer group, changelog and transactional-id prefix) of a generation."""
    return settings.worker_app_id if number == 1 else f"{settings.worker_app_id}-g{number}"


def changelog_topic(app_id: str) -> str:
    """Return the de-dup changelog of a worker app id (partition p = state of input partition p)."""
    return f"{app_id}-dedup-changelog"


def timeline_topic(app_id: str) -> str:
    """Return the console timeline changelog of a worker app id (partitioned like the input)."""
    return f"{app_id}-timeline-changelog"


def owners_topic(app_id: str) -> str:
    """Return the console's owner-directory topic (which worker serves which input partition)."""
    return f"{app_id}-console-owners"


def leader_topic(app_id: str) -> str:
    """Return the name of Faust's assignor-leader topic of the worker group (one partition)."""
    return f"{app_id}-__assignor-__leader"


def transactional_id(app_id: str, partition: int) -> str:
    """Return the transactional id of the writer of one input partition (fenced per partition)."""
    return f"{app_id}-p{partition}"


def replay_group(app_id: str) -> str:
    """Return the consumer group that `vtex-bridge replay` reads the dead-letter topic with."""
    return f"{app_id}-replay"


def status_topic(prefix: str, suffix: str) -> str:
    """Return the downstream topic of a routing suffix (a status, a route group or `unknown`)."""
    return f"{prefix}{suffix}"
