"""EMR documents: the security configuration, EMRFS role-mapping explain, IAM documents,
the Kerberos attributes. Pure functions of (config, snapshot)."""
