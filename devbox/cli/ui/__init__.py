"""Rich output for the CLI: console, step reporters, the clone board."""
