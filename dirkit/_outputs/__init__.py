"""Generated documents: pure functions of (config section, AD site, snapshot) -> text.

emr (security configuration, IAM, Kerberos attributes), role_mappings (EMRFS first-match
explain and warnings), cloudformation (all of it as one template), hue, hadoop (core-site: the
auth_to_local rules that refuse reserved names, the LDAP group mapping), auth_to_local (rules
and their evaluation, as Hadoop's KerberosName), sssd (the nodes' domain block, with the
reserved names filtered), files (the output directory, atomic writes).
"""
