"""Secrets on disk (the certificate's key, the ACME account's key): written whole, and readable by
their owner alone from the first byte."""

import os
from pathlib import Path


def write_private(path: Path, data: bytes) -> None:
    """Replace the file at once, mode 0600 whatever the umask: a reader (HAProxy) never sees half
    of one, and no one else sees any of it, even while it is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.new")
    temporary.unlink(missing_ok=True)  # one left by a crash, with whatever mode it had
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
