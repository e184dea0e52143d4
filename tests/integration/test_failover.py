"""Two real DCs: dirkit fails over from dc1 to dc2 (before and during a run) with a full read,
converges, and then stays on dc2, where changes made on dc1 arrive by replication and are read
as a delta (uSNChanged counts per DC: a replicated change gets a new USN on dc2).

The sync account is the domain Administrator with a simple bind, as in test_delta.py: the
lab's svc-dirkit may not list CN=Deleted Objects, so its reads are always full ones.
"""

from __future__ import annotations

from typing import Any

import ldap3
import pytest

from dirkit import Dirkit
from dirkit._directory import reader as reader_mod
from dirkit._plan import content_digest
from dirkit_lab import Lab, seed
from dirkit_lab import settings as s

DC1, DC2 = f"ldaps://{s.AD_HOST}:636", f"ldaps://{s.DC2_HOST}:636"


@pytest.fixture
def kit(make_config: Any, monkeypatch: pytest.MonkeyPatch, ad_admin: ldap3.Connection, lab: Lab) -> Dirkit:
    """Admin-bound, both DCs (dc1 first), with a tombstone on both (so deltas are allowed)."""
    monkeypatch.setenv("DIRKIT_TEST_ADMIN_PW", s.ADMIN_PASSWORD)
    dn = f"CN=dk-tombstone,{seed.HARD_OU}"
    assert ad_admin.add(dn, ["top", "person", "organizationalPerson", "user"], {"sAMAccountName": "dk-tombstone"})
    assert ad_admin.delete(dn)
    lab.replicate("dc2", "dc1")
    ldap = {"bind": "simple", "bind_dn": f"Administrator@{s.AD_REALM}", "password": "env:DIRKIT_TEST_ADMIN_PW"}
    return Dirkit(make_config(ldap={**ldap, "principal": None, "keytab": None, "urls": [DC1, DC2]}, hdfs=None))


def _full_read_from_dc2(kit: Dirkit) -> Any:
    data = kit.config.model_dump(mode="json", exclude_none=True)
    data["ldap"]["urls"] = [DC2]
    data.pop("source", None)
    from dirkit import _config as config

    return Dirkit(config.from_dict(data)).read()


def test_dc1_down_before_a_run_fails_over_to_dc2_with_a_full_read(kit: Dirkit, lab: Lab, restore_ad: None) -> None:
    kit.sync(allow_removals=True)
    assert kit.sync().directory.stats["read_kind"] == "delta"  # pinned to dc1
    lab.stop_samba("dc1")
    result = kit.sync()
    st = result.directory.stats
    assert (st["read_kind"], st["dc"]) == ("full", DC2)
    assert "does not answer" in st["read_why"] and "failing over" in st["read_why"]
    assert result.plan.empty  # dc2 holds the same directory: nothing to do
    after = kit.sync().directory.stats  # and from now on, deltas from dc2
    assert (after["read_kind"], after["dc"]) == ("delta", DC2)


def test_dc1_stopped_during_a_run_the_run_reads_again_from_dc2(
    kit: Dirkit, lab: Lab, restore_ad: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = kit.config.model_dump(mode="json", exclude_none=True)
    data["ldap"]["page_size"] = 5
    data.pop("source", None)
    from dirkit import _config as config

    kit = Dirkit(config.from_dict(data))
    kit.sync(allow_removals=True)
    original = reader_mod.Reader._paged
    stopped: list[str] = []

    def stopping_paged(self: Any, conn: Any, base: str, flt: str, attrs: Any, what: str, **kw: Any) -> Any:
        for n, entry in enumerate(original(self, conn, base, flt, attrs, what, **kw)):
            if what == "users" and n == 7 and not stopped:  # second page: dc1 stops under us
                stopped.append(conn.server.host)  # first: parallel readers get here too
                lab.stop_samba("dc1")
            yield entry

    # Not a mock: the wrapper only picks the moment at which the real dc1 is stopped; every
    # search goes to a real DC.
    with monkeypatch.context() as m:
        m.setattr(reader_mod.Reader, "_paged", stopping_paged)
        result = kit.sync(full=True)
    st = result.directory.stats
    assert stopped == [s.AD_HOST]
    assert (st["read_kind"], st["dc"], st["failed_over_from"]) == ("full", DC2, [DC1])
    assert result.plan.empty
    assert content_digest(result.directory) == content_digest(_full_read_from_dc2(kit))


def test_a_change_made_on_dc1_reaches_the_delta_on_dc2_by_replication(
    kit: Dirkit, lab: Lab, ad_admin: ldap3.Connection, restore_ad: None
) -> None:
    kit.sync(allow_removals=True)
    lab.stop_samba("dc1")
    assert kit.sync().directory.stats["dc"] == DC2  # failed over: the watermark is dc2's now
    lab.start_samba("dc1")
    ad_admin.unbind()  # its connection to dc1 died with dc1
    ad_admin.bind()
    dn = f"CN=dk-replicated,{seed.HARD_OU}"
    assert ad_admin.add(dn, ["top", "person", "organizationalPerson", "user"], {"sAMAccountName": "dk-replicated"})
    group = f"CN=grp_data_science,{seed.USERS_CN}"
    assert ad_admin.modify(group, {"member": [(ldap3.MODIFY_ADD, [dn])]})
    lab.replicate("dc2", "dc1")
    result = kit.sync()
    st = result.directory.stats
    # Pinned: dc1 answers again, but the watermark belongs to dc2, which is still there.
    assert (st["read_kind"], st["dc"]) == ("delta", DC2)
    user = result.directory.user_by_name("dk-replicated")
    assert user is not None and "grp_data_science" in result.directory.group_names_of(user)
    assert content_digest(result.directory) == content_digest(_full_read_from_dc2(kit))
