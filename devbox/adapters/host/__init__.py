"""Host adapters: processes, /proc, cgroups, mounts, files under a root."""
