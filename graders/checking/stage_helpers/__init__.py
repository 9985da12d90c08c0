"""One module per stage, named by its slug: what that stage's public checks
(exercises/NN_slug/test_*.py) and hidden checks (graders/hidden/NN_slug/) share, so that
each helper, constant and hint has one source. Check files reach them through graders.api.

These modules ship to students with the public checks: a helper, constant or hint that only
a hidden check uses stays in the hidden check file.
"""
