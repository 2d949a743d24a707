"""Notifications: queued in the caller's transaction, delivered by email and SMS with retries."""
