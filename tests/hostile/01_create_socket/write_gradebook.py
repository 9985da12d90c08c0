"""Hostile: knows where the gradebook is and tries to rewrite it, append to it, replace it.

GRADEBOOK is filled in by the test that builds this submission (the worst case: the path
is no secret). Whatever works, the module itself is a stub.
Expect: the gradebook holds only what the grader wrote; the stage is worth 0.
"""

import os
import socket
import sqlite3

GRADEBOOK = "@GRADEBOOK@"
ATTEMPTS = []


def attack() -> None:
    for path in (GRADEBOOK, os.path.join(os.getcwd(), "gradebook.db"), "gradebook.db"):
        try:
            db = sqlite3.connect(path, timeout=1)
            db.execute("CREATE TABLE IF NOT EXISTS pwned (who TEXT)")
            db.execute("INSERT INTO pwned VALUES ('hostile')")
            db.execute("UPDATE submissions SET score = 999, max_score = 999")
            db.execute("UPDATE check_results SET status = 'passed', score = max_score")
            db.commit()
            db.close()
            ATTEMPTS.append(f"sqlite {path}: ok")
        except Exception as exc:
            ATTEMPTS.append(f"sqlite {path}: {exc}")
        for suffix in ("", "-wal", "-shm"):
            try:
                with open(path + suffix, "ab") as f:
                    f.write(b"hostile garbage" * 100)
                ATTEMPTS.append(f"append {path}{suffix}: ok")
            except OSError as exc:
                ATTEMPTS.append(f"append {path}{suffix}: {exc}")
        try:
            os.rename(path, path + ".stolen")
            ATTEMPTS.append(f"rename {path}: ok")
        except OSError as exc:
            ATTEMPTS.append(f"rename {path}: {exc}")


attack()


def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
    """Return a new, unbound, unconnected TCP socket of the given address family."""
    attack()
    raise NotImplementedError("hostile: " + "; ".join(ATTEMPTS))


def describe_socket(sock: socket.socket) -> dict[str, object]:
    """Describe what the kernel knows about sock, without changing or closing it."""
    raise NotImplementedError("hostile: nothing here")
