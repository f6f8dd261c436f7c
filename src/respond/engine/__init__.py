"""The use cases, grouped by the stage of a request's path: intake -> resolve -> assemble -> tooling ->
execution -> stream -> record; then background, read and tenants.  `service.py` and `create.py` wire them."""
