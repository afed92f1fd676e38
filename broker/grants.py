"""Who may do what on Kafka: principals and the ACLs the directory grants them, as values.

One SCRAM principal per unit (`<prefix>unit.<OrganId>`), per router
(`<prefix>router.<name>`) and per gateway (`<prefix>gateway.<name>`), named by
`kernel.topics`; the prefix keeps deployments that share a cluster apart, and the admin
principal is the cluster's super user, outside any prefix.

- An open unit WRITEs the submit topic and its urgent lane and READs its own unit topic
  with its own consumer group, nothing else. It cannot read another unit's topic, write
  to one, or join another unit's group; what it sends reaches others only through the
  router.
- A closed (merged) or not-yet-open unit keeps READ on its own topic and group, so its
  connector can drain what was delivered before the merger and the receipts about what it
  sent; it loses WRITE on submit (the router would refuse its documents anyway). A unit
  removed from the directory keeps nothing: its ACLs and its credentials are deleted.
- A router READs submit and the urgent lane with the router groups and WRITEs every unit
  topic (a prefixed ACL, so a unit added later needs no new grant) and the dead-letter
  topic.
- A remote unit (one with a `gateway` in the directory) has no principal of its own: its
  topic is READ by its gateway's principal, with the gateway's group, which also WRITEs
  submit and the urgent lane (what comes back from the remote side, signed with the
  gateway's certificate, which names only the units behind it). A gateway reads no other
  topic and joins no other group.

READ and WRITE imply DESCRIBE in Kafka's authorizer, and WRITE on a topic is enough for an
idempotent producer (KIP-679), so no other operation is granted.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from broker.directory.model import Directory
from kernel.kafka_admin import Grant
from kernel.topics import Topics


def owned_by_deployment(topics: Topics, user: str) -> bool:
    """True for the unit and router principals of this prefix (what `topics sync` manages)."""
    rest = user.removeprefix(topics.prefix)
    if rest == user:
        return False
    kind, _, name = rest.partition(".")
    return kind in ("unit", "router", "gateway") and bool(name)


def unit_of(topics: Topics, user: str) -> str | None:
    """The OrganId of a unit principal of this prefix, or None."""
    rest = user.removeprefix(topics.prefix)
    if rest == user or not rest.startswith("unit."):
        return None
    return rest.removeprefix("unit.") or None


def gateway_of(topics: Topics, user: str) -> str | None:
    """The gateway name of a gateway principal of this prefix, or None."""
    rest = user.removeprefix(topics.prefix)
    if rest == user or not rest.startswith("gateway."):
        return None
    return rest.removeprefix("gateway.") or None


def routers_of(topics: Topics, users: Iterable[str]) -> list[str]:
    """The router principals of this prefix among `users`."""
    head = f"{topics.prefix}router."
    return sorted(u for u in users if u.startswith(head) and len(u) > len(head))


def unit_grants(topics: Topics, organ_id: str, *, open_now: bool) -> set[Grant]:
    user = f"User:{topics.unit_user(organ_id)}"
    grants = {
        Grant(user, "topic", topics.unit(organ_id), "literal", "read"),
        Grant(user, "group", topics.connector_group(organ_id), "literal", "read"),
    }
    if open_now:
        grants.add(Grant(user, "topic", topics.submit, "literal", "write"))
        grants.add(Grant(user, "topic", topics.submit_urgent, "literal", "write"))
    return grants


def gateway_grants(topics: Topics, name: str, units: Iterable[str]) -> set[Grant]:
    """A gateway reads the topics of the units behind it, with its own group, and submits."""
    user = f"User:{topics.gateway_user(name)}"
    grants = {
        Grant(user, "group", topics.gateway_group(name), "literal", "read"),
        Grant(user, "topic", topics.submit, "literal", "write"),
        Grant(user, "topic", topics.submit_urgent, "literal", "write"),
    }
    grants |= {Grant(user, "topic", topics.unit(u), "literal", "read") for u in units}
    return grants


def router_grants(topics: Topics, user: str) -> set[Grant]:
    principal = f"User:{user}"
    return {
        Grant(principal, "topic", topics.submit, "literal", "read"),
        Grant(principal, "group", topics.router_group, "literal", "read"),
        Grant(principal, "topic", topics.submit_urgent, "literal", "read"),
        Grant(principal, "group", topics.router_urgent_group, "literal", "read"),
        Grant(principal, "topic", topics.unit(""), "prefixed", "write"),
        Grant(principal, "topic", topics.deadletter, "literal", "write"),
    }


def desired(
    topics: Topics, directory: Directory, routers: Iterable[str], *, today: datetime.date
) -> set[Grant]:
    """Every ACL this deployment's principals should hold, and no other."""
    grants: set[Grant] = set()
    for organ_id, unit in directory.units.items():
        if unit.gateway is None:
            grants |= unit_grants(topics, organ_id, open_now=unit.open_on(today))
    for gateway in directory.gateways:
        grants |= gateway_grants(topics, gateway, directory.behind(gateway))
    for user in routers:
        grants |= router_grants(topics, user)
    return grants
