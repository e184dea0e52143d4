"""`dirkit emr apply/diff` setup errors are one clear line, not a traceback (no AWS needed:
these fail before any request). The API calls themselves are tested against moto's server in
tests/integration/test_aws.py."""

from pathlib import Path

import pytest
from seed_fixture import seed_config

from dirkit import Document
from dirkit._deploy import Deployer
from dirkit.errors import AwsError


def test_an_unknown_profile_or_no_region_is_an_aws_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = seed_config()
    assert cfg.emr is not None
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))  # no profiles, no region
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(AwsError, match="nope"):
        Deployer.connect(cfg.emr, Document("{}"), profile="nope")
    with pytest.raises(AwsError, match="--region or AWS_REGION"):
        Deployer.connect(cfg.emr, Document("{}"))
