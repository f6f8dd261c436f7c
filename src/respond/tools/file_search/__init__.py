"""file_search: extraction, chunking, the numpy MiniLM embedder, ingestion and hybrid search."""
