"""An ssl.SSLContext as data: what a check needs to judge one that the student's code returned.

A context cannot leave the worker (it holds OpenSSL state), so the worker's codec sends this
description instead, and the notebook subject turns its contexts into the same description, so
a check judges a context alike in both. It says what the student chose (protocol, verify
mode, host-name check, the versions allowed, the CA certificates loaded) and what the context
does when it serves: an in-memory handshake with it as the server, against a client that
verifies nothing and presents no certificate (the probe looks only at the server's side), gives
the leaf it sends or the error it fails with. Standard library only: the worker imports it,
and `ssl` only when a context comes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

# Why: a real handshake takes four flights; a context that needs more is broken, not slow.
MAX_FLIGHTS = 12


@dataclass(frozen=True)
class ContextView:
    """An SSLContext as data. Names are the ssl module's (verify_mode "CERT_REQUIRED", ...)."""

    protocol: str = "?"
    verify_mode: str = "?"
    check_hostname: bool = False
    minimum_version: str = "?"
    maximum_version: str = "?"
    ca_certs: list[str] = field(default_factory=list)  # subjects of the CAs loaded, "O=..., CN=..."
    serves: bool = False  # the in-memory handshake as a server completed
    serve_error: str = ""  # why it did not
    leaf_sha256: str = ""  # SHA-256 of the leaf it served (DER), hex

    def __str__(self) -> str:  # as a message shows it
        return (f"an SSLContext ({self.protocol}, verify_mode={self.verify_mode}, "
                f"check_hostname={self.check_hostname}, minimum_version={self.minimum_version}, "
                f"{len(self.ca_certs)} CA certificate(s) loaded)")


def is_context(value: Any) -> bool:
    """True for an ssl.SSLContext, without importing ssl for everything else."""
    return any(c.__module__ == "ssl" and c.__name__ == "SSLContext" for c in type(value).__mro__)


def describe(ctx: Any) -> dict[str, Any]:
    """The context as JSON-able data: the fields of ContextView."""
    import ssl

    def name(value: Any) -> str:
        return getattr(value, "name", None) or str(value)

    data: dict[str, Any] = {
        "protocol": name(ssl._SSLMethod(ctx.protocol)) if hasattr(ssl, "_SSLMethod") else str(ctx.protocol),
        "verify_mode": name(ctx.verify_mode),
        "check_hostname": bool(ctx.check_hostname),
        "minimum_version": name(ctx.minimum_version),
        "maximum_version": name(ctx.maximum_version),
        "ca_certs": [_subject(c) for c in ctx.get_ca_certs()],
    }
    data.update(_serve_in_memory(ssl, ctx))
    return data


def view(data: Any) -> ContextView:
    """A ContextView from described data (or a live context); anything malformed reads as unknown."""
    if is_context(data):
        data = describe(data)
    if isinstance(data, ContextView):
        return data
    if not isinstance(data, dict):
        return ContextView()
    text = {k: str(data[k]) for k in ("protocol", "verify_mode", "minimum_version", "maximum_version",
                                        "serve_error", "leaf_sha256") if k in data}
    cas = data.get("ca_certs")
    return ContextView(check_hostname=data.get("check_hostname") is True, serves=data.get("serves") is True,
                       ca_certs=[str(c) for c in cas] if isinstance(cas, list) else [], **text)


def leaf_sha256(pem_path: str) -> str:
    """SHA-256 (hex) of the first certificate in a PEM file: what a server loaded with it sends."""
    import ssl

    text = open(pem_path, encoding="ascii").read()
    end = "-----END CERTIFICATE-----"
    first = text[: text.index(end) + len(end)]
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(first)).hexdigest()


def _subject(cert: dict[str, Any]) -> str:
    parts = []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def _serve_in_memory(ssl: Any, ctx: Any) -> dict[str, Any]:
    """Runs a handshake between `ctx` as the server and a bare client, both on memory buffers."""
    try:
        s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
        server = ctx.wrap_bio(s_in, s_out, server_side=True)
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        probe.check_hostname = False
        probe.verify_mode = ssl.CERT_NONE
        client = probe.wrap_bio(c_in, c_out, server_side=False)
        done = {"client": False, "server": False}
        for _ in range(MAX_FLIGHTS):
            for side, obj, out, into in (("client", client, c_out, s_in), ("server", server, s_out, c_in)):
                if not done[side]:
                    try:
                        obj.do_handshake()
                        done[side] = True
                    except ssl.SSLWantReadError:
                        pass
                into.write(out.read())
            if all(done.values()):
                break
        if not all(done.values()):
            return {"serves": False, "serve_error": "the handshake never completed"}
        # TLS 1.3: the server judges the client's (missing) certificate after the client's
        # last flight, which only a read brings in.
        try:
            server.read(1)
        except ssl.SSLWantReadError:
            pass
        leaf = client.getpeercert(binary_form=True) or b""
        return {"serves": True, "leaf_sha256": hashlib.sha256(leaf).hexdigest() if leaf else ""}
    except Exception as exc:  # whatever the context does wrong is the finding, not a grader fault
        return {"serves": False, "serve_error": f"{type(exc).__name__}: {exc}"}
