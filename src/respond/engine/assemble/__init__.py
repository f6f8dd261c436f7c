"""Assemble the context the model reads: messages, compaction, reasoning, call ids."""
