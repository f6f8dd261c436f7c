"""Parse and validate a request: its options, tool_choice, client tools, moderation, prompt cache."""
