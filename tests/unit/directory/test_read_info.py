"""What a read learned is typed (issue 22): Directory.read is a frozen ReadInfo over the
stats mapping, which stays the stored, documented form."""

from __future__ import annotations

import dataclasses

import pytest
from seed_fixture import seed_directory

from dirkit import ReadInfo


def test_a_built_snapshot_says_what_it_holds() -> None:
    d = seed_directory()
    info = d.read
    assert info.users == len(d.users) and info.groups == len(d.groups)
    assert info.named_objects == len(d.named_users()) + len(d.named_groups())
    assert sum(info.issue_kinds.values()) == len(d.issues)
    assert info.highest_usn is None and info.kind == ""  # not read from AD: no delta can follow
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.users = 0  # type: ignore[misc]  # the assignment a frozen dataclass refuses: what this asserts


def test_a_read_from_ad_and_an_old_record_both_read() -> None:
    stats = {
        "read_kind": "delta",
        "read_why": "",
        "dc": "ldaps://dc1:636",
        "invocation_id": "x",
        "highest_usn": 4242,
        "tombstone_rights": False,
        "ldap_searches": 3,
        "changed_objects": 2,
        "departures": {"g1": "deleted"},
        "failed_over_from": ["ldaps://dc2:636"],
        "system_account_dns": ["CN=krbtgt,CN=Users,DC=ad"],
    }
    info = ReadInfo.from_stats(stats)
    assert (info.kind, info.dc, info.highest_usn, info.tombstone_rights) == ("delta", "ldaps://dc1:636", 4242, False)
    assert info.departures == {"g1": "deleted"} and info.failed_over_from == ("ldaps://dc2:636",)
    assert info.system_account_dns == ("CN=krbtgt,CN=Users,DC=ad",)
    assert ReadInfo.from_stats({}) == ReadInfo()  # a snapshot stored before a key existed
