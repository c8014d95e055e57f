"""Conversation state of chat users, kept in PostgreSQL so restarts and replicas share it."""
