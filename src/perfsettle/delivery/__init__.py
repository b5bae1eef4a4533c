"""Delivering a close: publishing staged outputs, moving inputs, sending messages over SMTP."""
