"""Shared helpers: robust I/O, distributed sharding, devices, logging."""
