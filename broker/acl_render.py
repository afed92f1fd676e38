"""The ACLs `topics sync` provisions (broker.grants), written as Strimzi KafkaUser resources.

A Kubernetes deployment whose Kafka is run by Strimzi declares its users and their ACLs as
KafkaUser resources; rendering them from the same grants the devstack's broker gets keeps
the two from drifting (tests/unit/test_deploy_files.py compares the checked-in file).

Strimzi names the Kafka user after the resource, and Kubernetes names are lower case: a
principal the API server would refuse (a unit's, whose OrganId has capitals) is reported by
`unnameable`, never renamed, since another name would be another principal.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from kernel.kafka_admin import MECHANISM, Grant

API_VERSION = "kafka.strimzi.io/v1"
_RESOURCES = {
    "topic": "topic",
    "group": "group",
    "broker": "cluster",
    "transactional_id": "transactionalId",
}
_PATTERNS = {"literal": "literal", "prefixed": "prefix"}
_OPERATIONS = {
    "read": "Read", "write": "Write", "create": "Create", "delete": "Delete", "alter": "Alter",
    "describe": "Describe", "cluster_action": "ClusterAction", "alter_configs": "AlterConfigs",
    "describe_configs": "DescribeConfigs", "idempotent_write": "IdempotentWrite", "all": "All",
}  # fmt: skip
_KUBERNETES_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def kafka_users(grants: Iterable[Grant], *, cluster: str) -> list[dict[str, Any]]:
    """One KafkaUser per principal, its ACLs sorted, SCRAM-SHA-512 with the password read
    from the Secret `<user>-kafka` (key `password`), so the connector's client
    config and the broker hold the same one."""
    by_user: dict[str, list[Grant]] = defaultdict(list)
    for grant in grants:
        if grant.permission != "allow" or grant.host != "*":
            raise ValueError(f"only ALLOW from any host is rendered, not {grant}")
        by_user[grant.principal.removeprefix("User:")].append(grant)
    return [
        {
            "apiVersion": API_VERSION,
            "kind": "KafkaUser",
            "metadata": {"name": user, "labels": {"strimzi.io/cluster": cluster}},
            "spec": {
                "authentication": {
                    "type": MECHANISM.lower(),
                    "password": {
                        "valueFrom": {
                            "secretKeyRef": {
                                "name": f"{user}-kafka",
                                "key": "password",
                            }
                        }
                    },
                },
                "authorization": {"type": "simple", "acls": [_acl(g) for g in sorted(owned)]},
            },
        }
        for user, owned in sorted(by_user.items())
    ]


def _acl(grant: Grant) -> dict[str, Any]:
    return {
        "resource": {
            "type": _RESOURCES[grant.resource],
            "name": grant.name,
            "patternType": _PATTERNS[grant.pattern],
        },
        "operations": [_OPERATIONS[grant.operation]],
        "host": grant.host,
        "type": grant.permission,
    }


def grants_of(users: Iterable[dict[str, Any]]) -> set[Grant]:
    """The grants KafkaUser resources declare: the inverse of `kafka_users`."""
    resources = {v: k for k, v in _RESOURCES.items()}
    patterns = {v: k for k, v in _PATTERNS.items()}
    operations = {v: k for k, v in _OPERATIONS.items()}
    return {
        Grant(
            f"User:{user['metadata']['name']}",
            resources[acl["resource"]["type"]],
            acl["resource"]["name"],
            patterns[acl["resource"]["patternType"]],
            operations[operation],
            acl.get("host", "*"),
            acl.get("type", "allow"),
        )
        for user in users
        for acl in user["spec"]["authorization"]["acls"]
        for operation in acl["operations"]
    }


def unnameable(users: Iterable[dict[str, Any]]) -> list[str]:
    """The users the Kubernetes API would refuse as resource names (lower-case DNS names)."""
    return [
        u["metadata"]["name"]
        for u in users
        if len(u["metadata"]["name"]) > 253 or not _KUBERNETES_NAME.match(u["metadata"]["name"])
    ]
