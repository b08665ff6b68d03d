"""CA bundles people paste (a private registry's, a cluster's): checked, and written to files the
HTTP clients can be pointed at."""
from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
import threading
from pathlib import Path

from cryptography import x509

_lock = threading.Lock()
_ca_dir: Path | None = None


def check_ca_bundle(pem: str) -> str | None:
    """Why this is not a usable bundle of PEM certificates, or None (empty: the system's CAs)."""
    if not pem.strip():
        return None
    try:
        certs = x509.load_pem_x509_certificates(pem.strip().encode())
    except ValueError:
        return "This is not a PEM certificate bundle (-----BEGIN CERTIFICATE----- …)."
    return None if certs else "No certificate found in the bundle."


def ca_file(pem: str) -> str:
    """requests and the Kubernetes client want a path: each distinct (checked) bundle is written once
    into a directory only this process created (mode 0700, removed at exit), so nothing another user
    put in /tmp is ever trusted and nothing stale is left behind."""
    global _ca_dir
    with _lock:
        if _ca_dir is None:
            _ca_dir = Path(tempfile.mkdtemp(prefix="berth-ca-"))
            atexit.register(shutil.rmtree, _ca_dir, ignore_errors=True)
        path = _ca_dir / f"{hashlib.sha256(pem.encode()).hexdigest()}.pem"
        if not path.exists():
            path.write_text(pem)
    return str(path)
