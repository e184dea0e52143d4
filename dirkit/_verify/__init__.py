"""`dirkit verify`: checks (Kerberos through the trust, name, HDFS, Hive, EMRFS) and the
PyHive probe that runs in a child process."""
