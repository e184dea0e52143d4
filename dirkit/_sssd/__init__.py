"""What the cluster's SSSD (AD provider, ID mapping) will make of the directory."""
