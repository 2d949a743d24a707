"""Cases: the responsibility list, the case state machine and its steps, deadlines, escalation, residents' pages."""
