"""Intrex domain: tenancy, obligations, certificates, notifications and audit, free of Telegram."""
