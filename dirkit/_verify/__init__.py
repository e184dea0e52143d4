"""`dirkit verify`: checks (identity: no reserved name, no superuser group; Kerberos through the
trust; name; HDFS; Hive; EMRFS; a node's `id`) in checks.py, `verify --revoked`'s proof on AD's
own answer in revoked.py, and the PyHive probe that runs in a child process (hive_probe.py)."""
