"""Example apps that ship with oakling's source (the Tasks demo, benchmarks)."""
