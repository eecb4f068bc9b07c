"""devbox's own records on disk (leases, container, clone, daemon, registry state): read and
written through jsonfile and locks, no outside library."""
