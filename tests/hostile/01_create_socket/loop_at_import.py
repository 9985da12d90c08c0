"""Hostile: spins forever while being imported, so no check can ever call it.

Expect: the import is given up after its deadline, the stage is an error worth 0, the batch goes on.
"""

while True:
    pass
