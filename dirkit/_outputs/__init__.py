"""Generated documents: pure functions of (config section, AD site, snapshot) -> text.

emr (security configuration, IAM, Kerberos attributes), role_mappings (EMRFS first-match
explain and warnings), hue, hadoop (core-site), auth_to_local (rules and their evaluation),
files (atomic writes into the output directory).
"""
