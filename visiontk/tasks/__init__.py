"""Task heads, one module each; every module registers its Task class in TASKS."""
