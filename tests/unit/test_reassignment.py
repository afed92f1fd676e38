"""The partition reassignment `topics sync --plan` writes for topics made when the cluster
was smaller (Kafka's JSON for kafka-reassign-partitions.sh)."""

from __future__ import annotations

from kernel.kafka import UnderReplicated, reassignment_plan


def test_each_partition_gets_the_wanted_replicas_its_leader_first_spread_over_the_brokers() -> None:
    short = UnderReplicated("t.submit", 1, 3, ((0, (1,)), (1, (2,)), (2, (3,)), (3, (1,))))
    plan = reassignment_plan([short], [3, 1, 2])
    assert plan["version"] == 1
    replicas = [p["replicas"] for p in plan["partitions"]]
    assert [r[0] for r in replicas] == [1, 2, 3, 1]
    assert all(len(set(r)) == 3 == len(r) for r in replicas)
    assert [p["partition"] for p in plan["partitions"]] == [0, 1, 2, 3]


def test_a_partition_with_some_replicas_keeps_them_and_a_small_cluster_caps_the_count() -> None:
    plan = reassignment_plan([UnderReplicated("t.u", 2, 3, ((0, (2, 1)),))], [1, 2, 3, 4])
    assert plan["partitions"][0]["replicas"][:2] == [2, 1]
    assert len(plan["partitions"][0]["replicas"]) == 3
    capped = reassignment_plan([UnderReplicated("t.u", 1, 3, ((0, (1,)),))], [1, 2])
    assert sorted(capped["partitions"][0]["replicas"]) == [1, 2]
