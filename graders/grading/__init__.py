"""One submission under pytest: find its stage modules, run the checks, gather the results."""
