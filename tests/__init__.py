"""Tests against real PostgreSQL: a server named by INTREX_TEST_DATABASE_URL, else embedded."""
