"""Read side: retrieval, listings, derived answers (input tokens, compact), dashboard charts."""
