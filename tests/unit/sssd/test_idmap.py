"""SSSD's ID mapping, checked against SSSD's own test vectors (src/tests/pysss_murmur-test.py,
src/tests/cmocka/test_sss_idmap.c) and the lab's real SSSD (lab-notes: dataeng1, RID 1104 ->
uid 1101801104, so that domain's slice is 5508)."""

from __future__ import annotations

from dirkit._sssd.idmap import IdRange, collisions, murmurhash3, slice_of, unix_id

SSSD_TEST_SID = "S-1-5-21-123-456-789"  # test_sss_idmap.c: slice 9212, ids 1842600000-1842799999


def test_murmurhash3_matches_sssds_vectors() -> None:
    sid = "S-1-5-21-2153326666-2176343378-3404031434"
    assert murmurhash3(sid.encode()) == 93103853
    assert murmurhash3(b"") == 233162409
    assert murmurhash3(b"test_user1\0", 0xBEEFDEAD) == 1198610880
    assert murmurhash3(b"test_user1" + b"\0" * 5, 0xBEEFDEAD) == 2917868047


def test_a_domains_slice_and_ids_are_sssds() -> None:
    assert slice_of(SSSD_TEST_SID) == 9212
    assert unix_id(f"{SSSD_TEST_SID}-0") == 1842600000
    assert unix_id(f"{SSSD_TEST_SID}-1104") == 1842601104
    assert unix_id(f"{SSSD_TEST_SID}-199999") == 1842799999  # the primary slice's last id


def test_rids_beyond_the_range_size_fall_in_a_secondary_slice() -> None:
    beyond = unix_id(f"{SSSD_TEST_SID}-200001")
    r = IdRange()
    assert beyond == r.min + slice_of(f"{SSSD_TEST_SID}-200000") * r.size + 1
    assert not 1842600000 <= beyond <= 1842799999


def test_domains_on_the_same_slice_are_reported() -> None:
    small = IdRange(min=200000, max=600000, size=200000)  # two slices: a collision is certain among three
    sids = ["S-1-5-21-1-2-3", "S-1-5-21-4-5-6", "S-1-5-21-7-8-9"]
    found = collisions(sids, small)
    assert found and all(slice_of(a, small) == slice_of(b, small) for a, b in found)
    assert collisions([SSSD_TEST_SID]) == []
