"""Resolve what a request refers to: prompt, previous response, conversation, files, images."""
