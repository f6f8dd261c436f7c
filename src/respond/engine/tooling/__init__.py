"""Plan and run the hosted tools' rounds, the repeat guard, call items."""
