"""Pure records, rules and planners: no I/O, tested without root."""
