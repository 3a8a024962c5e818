"""Benchmarks of oakling against its peers (run as scripts or ``python -m bench``)."""
