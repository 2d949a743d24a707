"""Commands: snapshot_safety_index."""
