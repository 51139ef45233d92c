"""Tables and figures of the report stage (matplotlib Agg backend, no display needed)."""
