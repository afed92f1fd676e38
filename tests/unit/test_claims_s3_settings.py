"""The S3 claim store's settings: all or nothing, validated, the secret key never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.claims import Claims, DirectoryStore, S3Store
from kernel.errors import ConfigurationError
from kernel.settings import Secret, Settings

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
S3 = {
    "LIENTHONG_CLAIMS_S3_ENDPOINT": "https://s3.example.gov.vn:9000/",
    "LIENTHONG_CLAIMS_S3_BUCKET": "lienthong-claims",
    "LIENTHONG_CLAIMS_S3_ACCESS_KEY": "AKIAEXAMPLE",
    "LIENTHONG_CLAIMS_S3_SECRET_KEY": SECRET,
}


def test_every_s3_setting_is_read() -> None:
    settings = Settings.from_env(
        {
            **S3,
            "LIENTHONG_CLAIMS_S3_PREFIX": "lienthong/claims/",
            "LIENTHONG_CLAIMS_S3_REGION": "hn-1",
        }
    )
    assert settings.claims_s3_endpoint == "https://s3.example.gov.vn:9000"
    assert settings.claims_s3_bucket == "lienthong-claims"
    assert settings.claims_s3_access_key == "AKIAEXAMPLE"
    assert settings.claims_s3_secret_key == Secret(SECRET)
    assert settings.claims_s3_prefix == "lienthong/claims/"
    assert settings.claims_s3_region == "hn-1"


def test_unset_is_the_folder() -> None:
    settings = Settings.from_env({})
    assert settings.claims_s3_endpoint is None
    assert settings.claims_s3_secret_key is None
    assert settings.claims_s3_prefix == ""


def test_the_secret_key_is_masked() -> None:
    settings = Settings.from_env(S3)
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.for_log())
    assert settings.for_log()["claims_s3_secret_key"] == str(Secret(SECRET))
    assert settings.for_log()["claims_s3_access_key"] == "AKIAEXAMPLE"


@pytest.mark.parametrize("missing", ["BUCKET", "ACCESS_KEY", "SECRET_KEY"])
def test_an_endpoint_without_the_rest_names_what_is_missing(missing: str) -> None:
    environ = {k: v for k, v in S3.items() if not k.endswith("_S3_" + missing)}
    with pytest.raises(ConfigurationError, match=f"LIENTHONG_CLAIMS_S3_{missing} is not"):
        Settings.from_env(environ)


def test_an_endpoint_alone_names_all_three() -> None:
    endpoint = {"LIENTHONG_CLAIMS_S3_ENDPOINT": S3["LIENTHONG_CLAIMS_S3_ENDPOINT"]}
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(endpoint)
    for name in ("BUCKET", "ACCESS_KEY", "SECRET_KEY"):
        assert f"LIENTHONG_CLAIMS_S3_{name}" in refused.value.message


@pytest.mark.parametrize("stray", ["BUCKET", "SECRET_KEY", "PREFIX", "REGION"])
def test_s3_settings_without_an_endpoint_are_refused(stray: str) -> None:
    with pytest.raises(ConfigurationError, match=f"LIENTHONG_CLAIMS_S3_{stray} set without"):
        Settings.from_env({f"LIENTHONG_CLAIMS_S3_{stray}": "lienthong-claims"})


def test_a_folder_and_a_bucket_at_once_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="either a folder or a bucket"):
        Settings.from_env({**S3, "LIENTHONG_CLAIMS": str(tmp_path)})


@pytest.mark.parametrize(
    "endpoint",
    [
        "s3.example.gov.vn",
        "ftp://s3.example.gov.vn",
        "https://key:secret@s3.example.gov.vn",
        "https://s3.example.gov.vn/bucket",
        "https://s3.example.gov.vn?x=1",
        "https://s3.example.gov.vn:99999",
        "https://s3.example.gov.vn:0",
        "https://",
        "https://s3 .example.gov.vn",
    ],
)
def test_a_malformed_endpoint_is_refused(endpoint: str) -> None:
    with pytest.raises(ConfigurationError, match="LIENTHONG_CLAIMS_S3_ENDPOINT must be"):
        Settings.from_env({**S3, "LIENTHONG_CLAIMS_S3_ENDPOINT": endpoint})


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("BUCKET", "ab"),
        ("BUCKET", "Lienthong"),
        ("BUCKET", "a..b"),
        ("BUCKET", "-lienthong"),
        ("PREFIX", "/claims/"),
        ("PREFIX", "a/../b/"),
        ("PREFIX", "claims\n"),
        ("REGION", "hn 1"),
        ("BUCKET", "lienthong\n"),
        ("REGION", "hn-1\n"),
    ],
)
def test_a_malformed_bucket_prefix_or_region_is_refused(setting: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=f"LIENTHONG_CLAIMS_S3_{setting} must be"):
        Settings.from_env({**S3, f"LIENTHONG_CLAIMS_S3_{setting}": value})


def test_the_store_is_a_bucket_when_an_endpoint_is_set(tmp_path: Path) -> None:
    s3 = Claims.from_settings(Settings.from_env({**S3, "LIENTHONG_STATE_DIR": str(tmp_path)}))
    assert isinstance(s3.store, S3Store)
    assert s3.store.bucket == "lienthong-claims"
    assert s3.store.scratch == s3.spool_dir
    folder = Claims.from_settings(Settings.from_env({"LIENTHONG_STATE_DIR": str(tmp_path)}))
    assert isinstance(folder.store, DirectoryStore)
    assert folder.store.root == tmp_path / "claims"


async def test_the_bucket_store_has_nothing_to_sweep(tmp_path: Path) -> None:
    held = Claims.from_settings(Settings.from_env({**S3, "LIENTHONG_STATE_DIR": str(tmp_path)}))
    await held.sweep(0)


def test_a_bucket_takes_attachments_up_to_a_single_put() -> None:
    five_gib = str(5 * 1024**3)
    assert Settings.from_env({**S3, "LIENTHONG_MAX_ATTACHMENT_BYTES": five_gib})
    with pytest.raises(ConfigurationError, match="LIENTHONG_MAX_ATTACHMENT_BYTES"):
        Settings.from_env({**S3, "LIENTHONG_MAX_ATTACHMENT_BYTES": str(int(five_gib) + 1)})
