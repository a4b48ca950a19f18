"""The command-line interface: one module per role. Only the CLI exits the process."""
