"""Persistence: checkpointer factories and the run ledger."""

from langgraph_pdr.checkpoints.ledger import Ledger
from langgraph_pdr.checkpoints.store import Store, aopen_store, open_store

__all__ = ["Ledger", "Store", "aopen_store", "open_store"]
