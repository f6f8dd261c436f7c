"""The event grammar: operations, the one emitter, events and replays, include."""
