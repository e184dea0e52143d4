#!/usr/bin/python3
"""Grant or revoke an account's read of CN=Deleted Objects (List Contents + Read Property), as
an AD admin does on Windows with

    dsacls "CN=Deleted Objects,DC=..." /takeOwnership
    dsacls "CN=Deleted Objects,DC=..." /G "DOMAIN\\svc-dirkit:LCRP"

`samba-tool dsacl set` cannot reach that container; Samba's own bindings can, with the Show
Deleted control (see shared/reference/lab-notes.md). Runs under the *system* python3:
    /usr/bin/python3 _tombstone_acl.py SMB_CONF SAM grant|revoke
Samba may be running; the change goes through the directory (it replicates like any other).
"""

import sys

import ldb
from samba import param
from samba.auth import system_session
from samba.dcerpc import security
from samba.ndr import ndr_pack, ndr_unpack
from samba.samdb import SamDB

CONTROLS = ["show_deleted:1", "sd_flags:1:4"]  # DACL only


def main() -> None:
    lp = param.LoadParm()
    lp.load(sys.argv[1])
    sam, action = sys.argv[2], sys.argv[3]
    db = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
    base = db.domain_dn()
    res = db.search(
        base=base, scope=ldb.SCOPE_SUBTREE, expression=f"(sAMAccountName={ldb.binary_encode(sam)})", attrs=["objectSid"]
    )
    sid = str(ndr_unpack(security.dom_sid, res[0]["objectSid"][0]))
    dn = f"CN=Deleted Objects,{base}"
    sd = ndr_unpack(
        security.descriptor,
        db.search(base=dn, scope=ldb.SCOPE_BASE, attrs=["nTSecurityDescriptor"], controls=CONTROLS)[0][
            "nTSecurityDescriptor"
        ][0],
    )
    for ace in [a for a in sd.dacl.aces if str(a.trustee) == sid]:
        sd.dacl_del_ace(ace)
    if action == "grant":
        ace = security.ace()
        ace.type = security.SEC_ACE_TYPE_ACCESS_ALLOWED
        ace.access_mask = security.SEC_ADS_LIST | security.SEC_ADS_READ_PROP
        ace.trustee = security.dom_sid(sid)
        sd.dacl_add(ace)
    m = ldb.Message()
    m.dn = ldb.Dn(db, dn)
    m["nTSecurityDescriptor"] = ldb.MessageElement(ndr_pack(sd), ldb.FLAG_MOD_REPLACE, "nTSecurityDescriptor")
    db.modify(m, controls=CONTROLS)
    print(f"{action}: {sd.as_sddl()}")


if __name__ == "__main__":
    main()
