"""The web dashboard's domain (SPEC §9): sign-in, sessions, the calendar feed, page queries.

The aiohttp edge lives in `web/`; everything here returns data and typed errors.
"""
