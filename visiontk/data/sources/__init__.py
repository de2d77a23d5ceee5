"""Data sources, one module each; every module registers its class in SOURCES."""
