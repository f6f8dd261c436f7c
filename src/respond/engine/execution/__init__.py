"""Run: launch a response on its backend, route, replicas, priming, metering."""
