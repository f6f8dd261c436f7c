"""Record: persistence modes, the recorder, what a stored response leaves behind, sealing, the hub."""
