"""Commands: sync_work_calendar."""
