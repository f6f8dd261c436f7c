"""Stored keys, their limits and usage."""
