"""What the directory grants each Kafka principal, as pure values."""

from __future__ import annotations

import datetime

import pytest

from broker import grants
from broker.directory import Directory, Unit
from kernel.errors import ConfigurationError
from kernel.kafka_admin import Grant
from kernel.topics import Topics

TODAY = datetime.date(2026, 12, 2)
OPEN = Unit("000.00.00.H62", "UBND tỉnh Vĩnh Long", "province")
CLOSED = Unit(
    "000.00.31.H07", "UBND huyện Châu Thành", "district",
    valid_to=datetime.date(2025, 6, 30), successor="000.00.00.H62",
)  # fmt: skip
LATER = Unit("000.05.00.H62", "Xã sắp lập", "commune", valid_from=datetime.date(2027, 1, 1))
TOPICS = Topics("lienthong.")


def test_an_open_unit_writes_submit_and_reads_its_own_topic_and_group() -> None:
    user = "User:lienthong.unit.000.00.00.H62"
    assert grants.unit_grants(TOPICS, OPEN.organ_id, open_now=True) == {
        Grant(user, "topic", "lienthong.submit", "literal", "write"),
        Grant(user, "topic", "lienthong.submit.urgent", "literal", "write"),
        Grant(user, "topic", "lienthong.unit.000.00.00.H62", "literal", "read"),
        Grant(user, "group", "lienthong.connector.000.00.00.H62", "literal", "read"),
    }


def test_a_closed_or_not_yet_open_unit_only_drains_its_own_topic() -> None:
    granted = grants.desired(TOPICS, Directory([OPEN, CLOSED, LATER]), [], today=TODAY)
    for unit in (CLOSED, LATER):
        mine = {g for g in granted if g.principal == f"User:{TOPICS.unit_user(unit.organ_id)}"}
        assert {(g.resource, g.operation) for g in mine} == {("topic", "read"), ("group", "read")}
        assert all(g.pattern == "literal" for g in mine)


def test_no_unit_grant_reaches_another_units_resources() -> None:
    granted = grants.desired(TOPICS, Directory([OPEN, CLOSED, LATER]), [], today=TODAY)
    for grant in granted:
        organ_id = grants.unit_of(TOPICS, grant.principal.removeprefix("User:"))
        assert organ_id is not None
        assert grant.pattern == "literal"
        lanes = (TOPICS.submit, TOPICS.submit_urgent)
        assert grant.name in (*lanes, TOPICS.unit(organ_id), TOPICS.connector_group(organ_id))
        assert grant.operation == "read" or grant.name in lanes


def test_a_router_reads_submit_and_writes_every_unit_topic_by_prefix() -> None:
    user = TOPICS.router_user("main")
    assert grants.router_grants(TOPICS, user) == {
        Grant(f"User:{user}", "topic", "lienthong.submit", "literal", "read"),
        Grant(f"User:{user}", "group", "lienthong.router", "literal", "read"),
        Grant(f"User:{user}", "topic", "lienthong.submit.urgent", "literal", "read"),
        Grant(f"User:{user}", "group", "lienthong.router.urgent", "literal", "read"),
        Grant(f"User:{user}", "topic", "lienthong.unit.", "prefixed", "write"),
        Grant(f"User:{user}", "topic", "lienthong.deadletter", "literal", "write"),
    }


@pytest.mark.parametrize(
    "prefix", ["", "lienthong", "lienthong.unit.x.", "lienthong.router.", "Lienthong.", ".", "a b."]
)
def test_a_prefix_that_could_extend_another_is_refused(prefix: str) -> None:
    """`lienthong.unit.x.`'s router would look like a unit of `lienthong.` to its sync."""
    with pytest.raises(ConfigurationError):
        Topics(prefix)


def test_principals_are_told_apart_by_prefix() -> None:
    assert grants.owned_by_deployment(TOPICS, "lienthong.unit.000.00.00.H62")
    assert grants.owned_by_deployment(TOPICS, "lienthong.router.main")
    assert not grants.owned_by_deployment(TOPICS, "lienthong-admin")
    assert not grants.owned_by_deployment(TOPICS, "lienthong.unit.")
    assert not grants.owned_by_deployment(TOPICS, Topics("other.").unit_user("000.00.00.H62"))
    assert grants.unit_of(TOPICS, "lienthong.unit.000.00.00.H62") == "000.00.00.H62"
    assert grants.routers_of(TOPICS, ["lienthong.router.a", "lienthong.router.", "b"]) == [
        "lienthong.router.a"
    ]


REMOTE = Unit("000.00.00.G22", "Văn phòng Chính phủ", "central", gateway="vdxp")
REMOTE_TOO = Unit("000.00.00.G12", "Bộ Nội vụ", "central", gateway="vdxp")


def test_a_gateway_reads_only_its_units_topics_and_submits() -> None:
    user = "User:lienthong.gateway.vdxp"
    granted = grants.desired(TOPICS, Directory([OPEN, REMOTE, REMOTE_TOO]), [], today=TODAY)
    assert {g for g in granted if g.principal == user} == {
        Grant(user, "topic", "lienthong.unit.000.00.00.G22", "literal", "read"),
        Grant(user, "topic", "lienthong.unit.000.00.00.G12", "literal", "read"),
        Grant(user, "group", "lienthong.gateway.vdxp", "literal", "read"),
        Grant(user, "topic", "lienthong.submit", "literal", "write"),
        Grant(user, "topic", "lienthong.submit.urgent", "literal", "write"),
    }
    # A remote unit has no principal of its own here: its topic is the gateway's to read.
    assert not any(g.principal == f"User:{TOPICS.unit_user(REMOTE.organ_id)}" for g in granted)
    assert all(g.pattern == "literal" for g in granted)


def test_gateway_principals_are_the_deployment_s_own() -> None:
    assert grants.owned_by_deployment(TOPICS, "lienthong.gateway.vdxp")
    assert grants.gateway_of(TOPICS, "lienthong.gateway.vdxp") == "vdxp"
    assert grants.gateway_of(TOPICS, "lienthong.unit.000.00.00.H62") is None
    assert grants.gateway_of(TOPICS, "other.gateway.vdxp") is None
    assert not grants.owned_by_deployment(TOPICS, "lienthong.gateway.")
