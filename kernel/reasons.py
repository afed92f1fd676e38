"""Reason codes: one vocabulary for logs, metrics, the ledger and the status sent back.

Values are stable strings: they are stored in the ledger and travel in status packets, so a
code is never renamed, only added. Each code carries a short English and Vietnamese sentence
for operators and senders.
"""

from __future__ import annotations

import enum


class ReasonCode(enum.StrEnum):
    # The local environment and the services behind it.
    CONFIG_INVALID = "config_invalid"
    JAVA_MISSING = "java_missing"
    MAVEN_UNREACHABLE = "maven_unreachable"
    POSTGRES_MISSING = "postgres_missing"
    PORT_IN_USE = "port_in_use"
    STALE_DATA_DIR = "stale_data_dir"
    SERVICE_FAILED = "service_failed"
    KAFKA_UNAVAILABLE = "kafka_unavailable"
    DATABASE_UNAVAILABLE = "database_unavailable"
    MIGRATION_FAILED = "migration_failed"

    @property
    def sentence_en(self) -> str:
        return _SENTENCES[self][0]

    @property
    def sentence_vi(self) -> str:
        return _SENTENCES[self][1]


_SENTENCES: dict[ReasonCode, tuple[str, str]] = {
    ReasonCode.CONFIG_INVALID: (
        "A setting has an invalid value.",
        "Giá trị cấu hình không hợp lệ.",
    ),
    ReasonCode.JAVA_MISSING: (
        "Java 17 or newer is needed to run Kafka and was not found.",
        "Không tìm thấy Java 17 trở lên để chạy Kafka.",
    ),
    ReasonCode.MAVEN_UNREACHABLE: (
        "Maven could not fetch the Kafka jars.",
        "Maven không tải được các gói Kafka.",
    ),
    ReasonCode.POSTGRES_MISSING: (
        "The PostgreSQL server binaries were not found.",
        "Không tìm thấy chương trình máy chủ PostgreSQL.",
    ),
    ReasonCode.PORT_IN_USE: (
        "A port the service needs is already taken by another program.",
        "Cổng mạng cần dùng đã bị chương trình khác chiếm.",
    ),
    ReasonCode.STALE_DATA_DIR: (
        "A data directory left by an earlier run does not match this one.",
        "Thư mục dữ liệu còn lại từ lần chạy trước không khớp.",
    ),
    ReasonCode.SERVICE_FAILED: (
        "A local service failed to start or to stop.",
        "Dịch vụ cục bộ không khởi động hoặc dừng được.",
    ),
    ReasonCode.KAFKA_UNAVAILABLE: (
        "The Kafka cluster did not answer.",
        "Cụm Kafka không phản hồi.",
    ),
    ReasonCode.DATABASE_UNAVAILABLE: (
        "The PostgreSQL database did not answer.",
        "Cơ sở dữ liệu PostgreSQL không phản hồi.",
    ),
    ReasonCode.MIGRATION_FAILED: (
        "A database migration failed.",
        "Không nâng cấp được lược đồ cơ sở dữ liệu.",
    ),
}
