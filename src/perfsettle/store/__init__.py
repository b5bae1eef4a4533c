"""The store: terms, readings with every version, opening balances, the ledger, runs and sent messages."""
from perfsettle.store.sqlite import Store

__all__ = ["Store"]
