"""The results model (submission -> stage -> check) and every rendering of it."""
