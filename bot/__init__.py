"""The Telegram front door (aiogram 3): routers per feature over the `core` services."""
