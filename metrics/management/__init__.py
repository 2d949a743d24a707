"""Management commands of the metrics app."""
