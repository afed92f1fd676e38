"""Topic, consumer-group and principal names: one submit topic, one topic per unit, one
dead-letter topic; one Kafka principal per unit and per router.

A prefix (`LIENTHONG_TOPIC_PREFIX`, default `lienthong.`) lets tests and several
deployments share a cluster without seeing each other's traffic or credentials.
"""

from __future__ import annotations

import dataclasses

from kernel.errors import ConfigurationError
from kernel.kafka import TopicSpec
from kernel.settings import TOPIC_PREFIX

ENVELOPE_HEADROOM = 64 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class Topics:
    prefix: str = "lienthong."
    max_message_bytes: int = 16 * 1024 * 1024

    def __post_init__(self) -> None:
        if not TOPIC_PREFIX.match(self.prefix):
            raise ConfigurationError(
                "a topic prefix is one word of a-z, 0-9, '_' or '-' and a dot "
                f"(like 'lienthong.'), not {self.prefix!r}"
            )

    @property
    def max_envelope_bytes(self) -> int:
        """The largest envelope the exchange carries: a topic's record limit less room for
        what the router adds on its way to a unit (endorsement headers with its chain)."""
        return self.max_message_bytes - ENVELOPE_HEADROOM

    @property
    def submit(self) -> str:
        return f"{self.prefix}submit"

    @property
    def submit_urgent(self) -> str:
        """The urgent lane: documents marked khẩn, thượng khẩn or hỏa tốc, which the router
        takes before any backlog on `submit`."""
        return f"{self.prefix}submit.urgent"

    def lane(self, kind: str, priority: int) -> str:
        """Where a unit publishes a new message: a document marked urgent (priority 1-4)
        takes the urgent lane, anything else `submit`. What refers to an earlier message
        of the sender's own (a follow-up, a recall) goes on that message's lane instead."""
        return self.submit_urgent if kind == "document" and priority >= 1 else self.submit

    def back_to(self, topic: str | None) -> str:
        """Where a released or replayed record goes: the lane it came in on, so an urgent
        document does not queue behind the backlog it was sent to overtake; `submit` for
        any other topic (or none recorded)."""
        return topic if topic in (self.submit, self.submit_urgent) else self.submit

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}deadletter"

    def unit(self, organ_id: str) -> str:
        return f"{self.prefix}unit.{organ_id}"

    @property
    def router_group(self) -> str:
        """The consumer group the routers of this deployment share."""
        return f"{self.prefix}router"

    @property
    def router_urgent_group(self) -> str:
        """The group the routers share for the urgent lane, rebalanced on its own."""
        return f"{self.prefix}router.urgent"

    def connector_group(self, organ_id: str) -> str:
        return f"{self.prefix}connector.{organ_id}"

    def unit_user(self, organ_id: str) -> str:
        """The Kafka principal (SCRAM user) of a unit's connector."""
        return f"{self.prefix}unit.{organ_id}"

    def router_user(self, name: str) -> str:
        return f"{self.prefix}router.{name}"

    def gateway_user(self, name: str) -> str:
        """The Kafka principal of a gateway's process: it reads the topics of the units
        reached through that gateway and submits what comes back from them."""
        return f"{self.prefix}gateway.{name}"

    def gateway_group(self, name: str) -> str:
        return f"{self.prefix}gateway.{name}"

    def specs(self, units: list[str], *, submit_partitions: int = 6) -> list[TopicSpec]:
        config = {"max.message.bytes": str(self.max_message_bytes)}
        return [
            TopicSpec(self.submit, submit_partitions, configs=config),
            TopicSpec(self.submit_urgent, submit_partitions, configs=config),
            TopicSpec(self.deadletter, 1, configs=config),
            *(TopicSpec(self.unit(u), 1, configs=config) for u in units),
        ]
