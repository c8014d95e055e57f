"""What a chat can be waiting for; stored in PostgreSQL so restarts and replicas agree."""

from aiogram.fsm.state import State, StatesGroup


class Flow(StatesGroup):
    waiting_proof = State()
    waiting_waive_reason = State()
    waiting_ack_note = State()
    choosing_proof_target = State()
    """A file arrived unasked; its file id waits while the person picks the obligation."""
    confirming_import = State()
    """An obligations file was previewed; it waits for Import or Cancel (bot/routers/imports)."""
