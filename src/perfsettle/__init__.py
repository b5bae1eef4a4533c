"""perfsettle — the monthly close for AI performance contracts."""
__version__ = "0.1.0"
