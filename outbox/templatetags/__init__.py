"""Template tags of the outbox."""
