#!/usr/bin/python3
"""Write the lab's identities and the cross-realm trust object into a Samba AD database.

Runs under the *system* python3 (it needs Samba's own bindings, which a venv does not have):
    /usr/bin/python3 _samba_seed.py SMB_CONF < seed.json
Samba may be stopped or running; this talks to sam.ldb directly, in one process, which is
~20x faster than one samba-tool call per identity.

The trust: ``samba-tool domain trust create`` cannot make a trust with an MIT realm, and
Samba's KDC ignores trustedDomain objects of type 3 (MIT). A type-2 (uplevel), inbound,
non-transitive trust object whose trustAuthIncoming holds the cross-realm password with key
version 1 makes Samba issue krbtgt/EMR.DIRKIT.TEST@AD.DIRKIT.TEST referrals that the MIT KDC
accepts. (Found on these machines; see shared/reference/lab-notes.md.)
"""
import json
import sys

import ldb
import samba
from samba import param
from samba.auth import system_session
from samba.dcerpc import drsblobs, lsa, security
from samba.ndr import ndr_pack
from samba.samdb import SamDB

ENC_AES = 0x8 | 0x10  # AES128 | AES256


def el(value, name, flag=ldb.FLAG_MOD_ADD):
    return ldb.MessageElement(value, flag, name)


def add(db, dn, **attrs):
    m = ldb.Message()
    m.dn = ldb.Dn(db, dn)
    for k, v in attrs.items():
        m[k] = el(v, k)
    db.add(m)


def auth_blob(secret, kvno):
    now = samba.unix2nttime(samba.current_unix_time())
    clear = drsblobs.AuthInfoClear()
    pw = list(secret.encode("utf-16-le"))
    clear.size = len(pw)
    clear.password = pw
    a = drsblobs.AuthenticationInformation()
    a.LastUpdateTime = now
    a.AuthType = lsa.TRUST_AUTH_TYPE_CLEAR
    a.AuthInfo = clear
    v = drsblobs.AuthInfoVersion()
    v.version = kvno
    b = drsblobs.AuthenticationInformation()
    b.LastUpdateTime = now
    b.AuthType = lsa.TRUST_AUTH_TYPE_VERSION
    b.AuthInfo = v
    arr = drsblobs.AuthenticationInformationArray()
    arr.count = 2
    arr.array = [a, b]
    blob = drsblobs.trustAuthInOutBlob()
    blob.count = 1
    blob.current = arr
    return blob


def sid_of(db, dn):
    res = db.search(base=dn, scope=ldb.SCOPE_BASE, attrs=["objectSid"])
    return ndr_unpack_sid(res[0]["objectSid"][0])


def ndr_unpack_sid(raw):
    from samba.ndr import ndr_unpack

    return ndr_unpack(security.dom_sid, raw)


def main():
    lp = param.LoadParm()
    lp.load(sys.argv[1])
    spec = json.load(sys.stdin)
    db = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
    base = db.domain_dn()

    # Test-friendly password policy: no complexity, no expiry, no history.
    m = ldb.Message()
    m.dn = ldb.Dn(db, base)
    m["pwdProperties"] = el("0", "pwdProperties", ldb.FLAG_MOD_REPLACE)
    m["maxPwdAge"] = el("0", "maxPwdAge", ldb.FLAG_MOD_REPLACE)
    m["minPwdAge"] = el("0", "minPwdAge", ldb.FLAG_MOD_REPLACE)
    m["pwdHistoryLength"] = el("0", "pwdHistoryLength", ldb.FLAG_MOD_REPLACE)
    db.modify(m)

    for ou in spec["ous"]:
        add(db, ou, objectClass="organizationalUnit")

    by_sam = {}
    for u in spec["users"]:
        db.newuser(u["sam"], spec["password"], userou=u["ou"].replace("," + base, ""),
                   givenname=u["given"] or None, surname=u["surname"] or None)
        # newuser names the object CN=<given surname> or CN=<sam>; move it to the CN we chose.
        res = db.search(base=base, scope=ldb.SCOPE_SUBTREE,
                        expression="(sAMAccountName=%s)" % ldb.binary_encode(u["sam"]), attrs=[])
        if str(res[0].dn).lower() != u["dn"].lower():
            db.rename(res[0].dn, ldb.Dn(db, u["dn"]))
        m = ldb.Message()
        m.dn = ldb.Dn(db, u["dn"])
        m["userPrincipalName"] = el("%s@%s" % (u["sam"], spec["realm"]), "userPrincipalName",
                                    ldb.FLAG_MOD_REPLACE)
        if u["disabled"]:
            m["userAccountControl"] = el(str(0x200 | 0x2), "userAccountControl", ldb.FLAG_MOD_REPLACE)
        else:
            m["userAccountControl"] = el(str(0x200 | 0x10000), "userAccountControl",
                                         ldb.FLAG_MOD_REPLACE)  # normal, password never expires
        db.modify(m)
        by_sam[u["sam"]] = u["dn"]

    for c in spec["contacts"]:
        add(db, c["dn"], objectClass="contact", displayName=c["cn"])

    for g in spec["groups"]:
        add(db, g["dn"], objectClass="group", sAMAccountName=g["sam"])
        by_sam[g["sam"]] = g["dn"]
    res = db.search(base=base, scope=ldb.SCOPE_SUBTREE, expression="(objectClass=group)",
                    attrs=["sAMAccountName"])
    for r in res:
        by_sam.setdefault(str(r["sAMAccountName"][0]), str(r.dn))

    def member_dn(ref):
        return by_sam.get(ref, ref)

    # Foreign security principals: adding <SID=...> as a member makes Samba create the
    # CN=<sid>,CN=ForeignSecurityPrincipals object itself (as AD does); see late_members.

    def add_members(group_sam, refs):
        if not refs:
            return
        m = ldb.Message()
        m.dn = ldb.Dn(db, by_sam[group_sam])
        m["member"] = el([member_dn(r) for r in refs], "member")
        db.modify(m)

    for g in spec["groups"]:
        add_members(g["sam"], g["members"])
    for group_sam, ref in spec["late_members"]:
        add_members(group_sam, [ref])

    # A non-default primary group: the user must be a member first; AD then keeps the
    # membership only in primaryGroupID (it is not in the group's `member`).
    for u in spec["users"]:
        if u["primary_group"]:
            gdn = by_sam[u["primary_group"]]
            rid = str(sid_of(db, gdn)).rsplit("-", 1)[1]
            add_members(u["primary_group"], [u["sam"]])
            m = ldb.Message()
            m.dn = ldb.Dn(db, u["dn"])
            m["primaryGroupID"] = el(rid, "primaryGroupID", ldb.FLAG_MOD_REPLACE)
            db.modify(m)
            try:  # Samba keeps the link; AD drops it. Drop it to look like AD.
                m = ldb.Message()
                m.dn = ldb.Dn(db, gdn)
                m["member"] = el(u["dn"], "member", ldb.FLAG_MOD_DELETE)
                db.modify(m)
            except ldb.LdbError:
                pass

    # Inbound one-way trust object for the MIT realm (see module docstring).
    t = spec["trust"]
    add(db, "CN=%s,CN=System,%s" % (t["partner"], base),
        objectClass="trustedDomain", trustPartner=t["partner"], flatName=t["flatname"],
        trustDirection="1", trustType="2", trustAttributes="1",
        securityIdentifier=ndr_pack(security.dom_sid(t["sid"])),
        trustAuthIncoming=ndr_pack(auth_blob(t["password"], 1)))
    m = ldb.Message()
    m.dn = ldb.Dn(db, "CN=%s,CN=System,%s" % (t["partner"], base))
    m["msDS-SupportedEncryptionTypes"] = el(str(ENC_AES), "msDS-SupportedEncryptionTypes")
    db.modify(m)
    print("seeded %d users, %d groups" % (len(spec["users"]), len(spec["groups"])))


if __name__ == "__main__":
    main()
