"""Provisioning the perimeter through the admin principal: each principal's credentials
and client config, and the ACLs the directory grants (`lienthong kafka client-config`,
`lienthong topics sync`). Idempotent: run it again and nothing changes.
"""

from __future__ import annotations

import dataclasses
import datetime

from broker import grants
from broker.directory.model import Directory
from kernel import kafka
from kernel.errors import ConfigurationError, DirectoryError
from kernel.kafka import ClientConfig
from kernel.kafka_admin import MECHANISM, Grant, SecurityAdmin, new_password
from kernel.reasons import ReasonCode
from kernel.settings import Settings
from kernel.topics import Topics


@dataclasses.dataclass(frozen=True, slots=True)
class Synced:
    created: tuple[Grant, ...]
    deleted: tuple[Grant, ...]
    users_deleted: tuple[str, ...]


async def ensure_client(
    settings: Settings, admin: ClientConfig, user: str, *, extra: set[Grant] | None = None
) -> ClientConfig:
    """The principal's client config: its password kept if a config exists, else a new one;
    the credential (re)stored on the cluster, `extra` ACLs granted, the file written 0600."""
    path = kafka.config_path(settings, user)
    try:
        password = ClientConfig.load(path).password
    except ConfigurationError:
        password = None
    config = ClientConfig(
        bootstrap=admin.bootstrap, protocol=admin.protocol,
        mechanism=MECHANISM if admin.protocol.startswith("SASL_") else None,
        username=user, password=password or new_password(), ca_file=admin.ca_file,
    )  # fmt: skip
    if config.password is not None and admin.protocol.startswith("SASL_"):
        with SecurityAdmin(admin) as cluster:
            await cluster.upsert_users({user: config.password})
            if extra:
                await cluster.create(extra)
        await kafka.until_it_authenticates(config)
    config.save(path)
    return config


async def unit_client(
    settings: Settings,
    admin: ClientConfig,
    topics: Topics,
    directory: Directory,
    organ_id: str,
    *,
    today: datetime.date,
) -> ClientConfig:
    """A unit's client config, with the ACLs the directory grants it now; a unit that is
    not in the directory gets nothing."""
    unit = directory.units.get(organ_id)
    if unit is None:
        raise DirectoryError(
            ReasonCode.UNIT_UNKNOWN,
            f"{organ_id} is not in the directory; only its units get Kafka credentials",
        )
    if unit.gateway is not None:
        raise DirectoryError(
            ReasonCode.UNIT_REMOTE,
            f"{organ_id} is reached through gateway {unit.gateway}: its topic is read as "
            f"the gateway (`lienthong kafka client-config --gateway {unit.gateway}`)",
        )
    extra = grants.unit_grants(topics, organ_id, open_now=unit.open_on(today))
    return await ensure_client(settings, admin, topics.unit_user(organ_id), extra=extra)


async def gateway_client(
    settings: Settings, admin: ClientConfig, topics: Topics, directory: Directory, name: str
) -> ClientConfig:
    """A gateway's client config, reading the topics of the units behind it now (`topics
    sync` keeps that list as the directory changes)."""
    units = directory.behind(name)
    if not units:
        raise DirectoryError(
            ReasonCode.UNIT_UNKNOWN, f"no unit of the directory is reached through gateway {name}"
        )
    user = topics.gateway_user(name)
    extra = grants.gateway_grants(topics, name, units)
    return await ensure_client(settings, admin, user, extra=extra)


async def router_client(
    settings: Settings, admin: ClientConfig, topics: Topics, name: str
) -> ClientConfig:
    user = topics.router_user(name)
    return await ensure_client(settings, admin, user, extra=grants.router_grants(topics, user))


async def remove_deployment(admin: ClientConfig, topics: Topics) -> None:
    """Delete every ACL and credential of this prefix's principals (a decommissioned
    deployment, or a test's)."""
    with SecurityAdmin(admin) as cluster:
        users = await cluster.users()
        await cluster.delete(
            g
            for g in await cluster.grants()
            if grants.owned_by_deployment(topics, g.principal.removeprefix("User:"))
        )
        await cluster.delete_users(u for u in users if grants.owned_by_deployment(topics, u))


async def sync(
    admin: ClientConfig, topics: Topics, directory: Directory, *, today: datetime.date
) -> Synced:
    """Make this deployment's ACLs exactly what the directory grants; delete the credentials
    of units that left it (or became remote) and of gateways it no longer names."""
    with SecurityAdmin(admin) as cluster:
        users = await cluster.users()
        routers = grants.routers_of(topics, users)
        want = grants.desired(topics, directory, routers, today=today)
        have = {
            g
            for g in await cluster.grants()
            if grants.owned_by_deployment(topics, g.principal.removeprefix("User:"))
        }
        await cluster.create(want - have)
        await cluster.delete(have - want)
        gone = sorted(u for u in users if _left(topics, directory, u))
        await cluster.delete_users(gone)
    return Synced(tuple(sorted(want - have)), tuple(sorted(have - want)), tuple(gone))


def _left(topics: Topics, directory: Directory, user: str) -> bool:
    """A unit or gateway principal of this prefix that the directory no longer has."""
    organ_id = grants.unit_of(topics, user)
    if organ_id is not None:
        unit = directory.units.get(organ_id)
        return unit is None or unit.gateway is not None
    gateway = grants.gateway_of(topics, user)
    return gateway is not None and gateway not in directory.gateways
