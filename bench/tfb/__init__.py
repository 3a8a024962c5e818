"""TechEmpower-style benchmark suite: apps, database, verifier, load, report."""
