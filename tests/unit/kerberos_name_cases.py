"""Hadoop's own auth_to_local cases, ported. Each case: (rules, mechanism, default realm,
principal, expected), where expected is the short name or one of MALFORMED, NO_RULE, BAD_RULE.

Sources (Apache Hadoop 3.4.2, the -test-sources jars on Maven Central):
- hadoop-auth: org/apache/hadoop/security/authentication/util/TestKerberosName.java
  (testRules, testAntiPatterns, testToLowerCase; default realm = KerberosTestUtils.getRealm()
  = EXAMPLE.COM);
- hadoop-common: org/apache/hadoop/security/TestUserGroupInformation.java (testConstructor*:
  with security off UGI's default rules are "RULE:[1:$1] RULE:[2:$1]", with Kerberos "DEFAULT";
  default realm DEFAULT.REALM).
The EXTRA cases are the issue's own (format errors, literal \\$, DEFAULT/L, Java regex quoting).
Every case is also run through the real HadoopKerberosName/KerberosName in
tests/integration/test_hadoop_real.py.
"""

from __future__ import annotations

MALFORMED, NO_RULE, BAD_RULE = "<malformed>", "<no rule>", "<bad rule>"

Case = tuple[str, str, str, str, str]

KN_RULES = (
    "RULE:[1:$1@$0](.*@YAHOO\\.COM)s/@.*//\n"
    "RULE:[2:$1](johndoe)s/^.*$/guest/\n"
    "RULE:[2:$1;$2](^.*;admin$)s/;admin$//\n"
    "RULE:[2:$2](root)\n"
    "DEFAULT"
)
KN_LOWER = (
    "RULE:[1:$1]/L\n"
    "RULE:[2:$1]/L\n"
    "RULE:[2:$1;$2](^.*;admin$)s/;admin$///L\n"
    "RULE:[2:$1;$2](^.*;guest$)s/;guest$//g/L\n"
    "DEFAULT"
)
UGI_SIMPLE = "RULE:[1:$1] RULE:[2:$1]"
UGI_OTHER = "RULE:[1:$1@$0](.*@OTHER.REALM)s/(.*)@.*/other-$1/"
UGI_BACK_TO_BACK = (
    "RULE:[2:$1@$0](.*@OTHER.REALM)s/(.*)@.*/other-$1/RULE:[1:$1@$0](.*@OTHER.REALM)s/(.*)@.*/other-$1/DEFAULT"
)
EX, DR = "EXAMPLE.COM", "DEFAULT.REALM"

TEST_KERBEROS_NAME: list[Case] = [
    # testRules
    (KN_RULES, "hadoop", EX, "omalley@EXAMPLE.COM", "omalley"),
    (KN_RULES, "hadoop", EX, "hdfs/10.0.0.1@EXAMPLE.COM", "hdfs"),
    (KN_RULES, "hadoop", EX, "oom@YAHOO.COM", "oom"),
    (KN_RULES, "hadoop", EX, "johndoe/zoo@FOO.COM", "guest"),
    (KN_RULES, "hadoop", EX, "joe/admin@FOO.COM", "joe"),
    (KN_RULES, "hadoop", EX, "joe/root@FOO.COM", "root"),
    # testAntiPatterns
    (KN_RULES, "hadoop", EX, "owen/owen/owen@FOO.COM", MALFORMED),
    (KN_RULES, "hadoop", EX, "owen@foo/bar.com", MALFORMED),
    (KN_RULES, "hadoop", EX, "foo@ACME.COM", NO_RULE),
    (KN_RULES, "hadoop", EX, "root/joe@FOO.COM", NO_RULE),
    (KN_RULES, "mit", EX, "foo@ACME.COM", "foo@ACME.COM"),
    (KN_RULES, "mit", EX, "root/joe@FOO.COM", "root/joe@FOO.COM"),
    # testToLowerCase
    (KN_LOWER, "hadoop", EX, "Joe@FOO.COM", "joe"),
    (KN_LOWER, "hadoop", EX, "Joe/root@FOO.COM", "joe"),
    (KN_LOWER, "hadoop", EX, "Joe/admin@FOO.COM", "joe"),
    (KN_LOWER, "hadoop", EX, "Joe/guestguest@FOO.COM", "joe"),
]

TEST_USER_GROUP_INFORMATION: list[Case] = [
    # testConstructor (security off: UGI's default rules)
    (UGI_SIMPLE, "hadoop", DR, "user1", "user1"),
    (UGI_SIMPLE, "hadoop", DR, "user2@DEFAULT.REALM", "user2"),
    (UGI_SIMPLE, "hadoop", DR, "user3/cron@DEFAULT.REALM", "user3"),
    (UGI_SIMPLE, "hadoop", DR, "user4@OTHER.REALM", "user4"),
    (UGI_SIMPLE, "hadoop", DR, "user5/cron@OTHER.REALM", "user5"),
    # testConstructorWithRules
    (UGI_OTHER, "hadoop", DR, "user1", "user1"),
    (UGI_OTHER, "hadoop", DR, "user4@OTHER.REALM", "other-user4"),
    (UGI_OTHER, "hadoop", DR, "user2@DEFAULT.REALM", NO_RULE),
    (UGI_OTHER, "hadoop", DR, "user3/cron@DEFAULT.REALM", NO_RULE),
    (UGI_OTHER, "hadoop", DR, "user5/cron@OTHER.REALM", NO_RULE),
    (UGI_OTHER, "mit", DR, "user2@DEFAULT.REALM", "user2@DEFAULT.REALM"),
    (UGI_OTHER, "mit", DR, "user3/cron@DEFAULT.REALM", "user3/cron@DEFAULT.REALM"),
    (UGI_OTHER, "mit", DR, "user5/cron@OTHER.REALM", "user5/cron@OTHER.REALM"),
    (UGI_OTHER, "mit", DR, "user6@example.com@OTHER.REALM", MALFORMED),
    (UGI_OTHER, "mit", DR, "user7@example.com@DEFAULT.REALM", MALFORMED),
    # testConstructorWithKerberos
    ("DEFAULT", "hadoop", DR, "user1", "user1"),
    ("DEFAULT", "hadoop", DR, "user2@DEFAULT.REALM", "user2"),
    ("DEFAULT", "hadoop", DR, "user3/cron@DEFAULT.REALM", "user3"),
    ("DEFAULT", "hadoop", DR, "user4@OTHER.REALM", NO_RULE),
    ("DEFAULT", "hadoop", DR, "user5/cron@OTHER.REALM", NO_RULE),
    ("DEFAULT", "mit", DR, "user4@OTHER.REALM", "user4@OTHER.REALM"),
    ("DEFAULT", "mit", DR, "user5/cron@OTHER.REALM", "user5/cron@OTHER.REALM"),
    # testConstructorWithKerberosRules (rules back to back, no separator)
    (UGI_BACK_TO_BACK, "hadoop", DR, "user1", "user1"),
    (UGI_BACK_TO_BACK, "hadoop", DR, "user2@DEFAULT.REALM", "user2"),
    (UGI_BACK_TO_BACK, "hadoop", DR, "user3/cron@DEFAULT.REALM", "user3"),
    (UGI_BACK_TO_BACK, "hadoop", DR, "user4@OTHER.REALM", "other-user4"),
    (UGI_BACK_TO_BACK, "hadoop", DR, "user5/cron@OTHER.REALM", "other-user5"),
]

EXTRA: list[Case] = [
    ("RULE:[1:$1$2]", "hadoop", EX, "joe@FOO.COM", BAD_RULE),  # $2 out of range for one component
    ("RULE:[1:$10]", "hadoop", EX, "joe@FOO.COM", BAD_RULE),  # $10 is index 10, not $1 then 0
    ("RULE:[1:$]", "hadoop", EX, "joe@FOO.COM", BAD_RULE),  # '$' without a number
    ("RULE:[1:$1](.*)s/(.*)/\\$$1/", "hadoop", EX, "joe@FOO.COM", "$joe"),  # \$ is a literal $
    ("DEFAULT/L", "hadoop", EX, "Joe@EXAMPLE.COM", "Joe"),  # DEFAULT ignores /L
    ("RULE:[1:$1@$0](\\QJoe@FOO.COM\\E)s/@.*//", "hadoop", EX, "Joe@FOO.COM", "Joe"),  # \Q...\E quoting
    ("RULE:[1:$1@$0](\\QJoe@FOO.COM\\E)s/@.*//", "hadoop", EX, "JoeXFOO.COM@X", NO_RULE),
    ("RULE:[1:$1@$0](.*@FOO\\.COM)", "hadoop", EX, "joe@FOO.COM", NO_RULE),  # non-simple result
    ("RULE:[1:$1@$0](.*@FOO\\.COM)", "mit", EX, "joe@FOO.COM", "joe@FOO.COM"),
    ("RULE:[1:$1](j.*)s/(?<n>j)(.*)/${n}x/", "hadoop", EX, "joe@FOO.COM", "jx"),  # a named group
    ("RULE:[2:$1/$2@$0](.*)s/.*//", "hadoop", EX, "HTTP/abc.com", ""),  # no realm: $0 is "null"
    ("RULE:[2:$1$0](HTTPnull)", "hadoop", EX, "HTTP/abc.com", "HTTPnull"),
]

ALL: list[Case] = TEST_KERBEROS_NAME + TEST_USER_GROUP_INFORMATION + EXTRA
