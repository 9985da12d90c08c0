"""The engine's support for stages 10 and 11, in the worker and in-process alike: coroutine
functions run with asyncio.run(), an SSLContext comes back as a description, an ssl error keeps
its verify code, environment variables are set for one call only, and an asyncio transport
dropped without close() is a leak."""

from __future__ import annotations

import os
import textwrap

import pytest

from graders.checking.tls_peers import CA, cert
from graders.engine.inprocess import InProcessSubject
from graders.engine.subject import Subject
from graders.engine.tls_view import ContextView, leaf_sha256

MODULE = textwrap.dedent('''
    import asyncio, os, socket, ssl

    async def add_later(a, b):
        await asyncio.sleep(0.01)
        return a + b

    async def fail_later():
        await asyncio.sleep(0)
        raise EOFError("early close")

    def variable(name):
        return os.environ.get(name)

    def client(cafile):
        return ssl.create_default_context(cafile=cafile)

    def unverified():
        return ssl._create_unverified_context()

    def server(chain, key):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(chain, key)
        return ctx

    def verify_error(cafile, chain, key):
        """A real handshake, in memory, against a server whose root is not in cafile."""
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(chain, key)
        bios = [ssl.MemoryBIO() for _ in range(4)]
        s = server.wrap_bio(bios[0], bios[1], server_side=True)
        c = ssl.create_default_context(cafile=cafile).wrap_bio(bios[2], bios[3], server_hostname="tcplab.test")
        for _ in range(6):
            for obj, out, into in ((c, bios[3], bios[0]), (s, bios[1], bios[2])):
                try:
                    obj.do_handshake()
                except ssl.SSLWantReadError:
                    pass
                into.write(out.read())

    async def drop_a_transport(port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return "dropped"  # the writer is never closed
''')


@pytest.fixture(params=["worker", "in-process"])
def subject(request, tmp_path):
    path = tmp_path / "m.py"
    path.write_text(MODULE)
    if request.param == "worker":
        s = Subject(path, "m")
    else:
        namespace: dict = {"__name__": "m", "__file__": str(path)}
        exec(compile(MODULE, str(path), "exec"), namespace)
        s = InProcessSubject(namespace)
    yield s
    s.close()


def test_a_coroutine_function_is_run_to_its_result(subject):
    assert subject.call("add_later", 2, 3).value == 5
    result = subject.call("fail_later")
    assert result.status == "raised" and result.error.is_a(EOFError)


def test_an_environment_variable_is_set_for_the_call_only(subject):
    assert subject.call("variable", "TCPLAB_PROBE", environ={"TCPLAB_PROBE": "yes"}).value == "yes"
    assert subject.call("variable", "TCPLAB_PROBE").value is None
    assert "TCPLAB_PROBE" not in os.environ


def test_a_returned_ssl_context_is_described(subject):
    ctx = subject.call("client", CA).value
    assert isinstance(ctx, ContextView)
    assert (ctx.verify_mode, ctx.check_hostname, ctx.protocol) == ("CERT_REQUIRED", True, "PROTOCOL_TLS_CLIENT")
    assert any("tcplab test root" in c for c in ctx.ca_certs)
    assert subject.call("unverified").value.verify_mode == "CERT_NONE"
    served = subject.call("server", cert("server-chain.pem"), cert("server.key")).value
    assert served.serves and served.leaf_sha256 == leaf_sha256(cert("server-chain.pem"))


def test_a_context_the_system_store_reaches_shows_its_cas(subject):
    store = {"SSL_CERT_FILE": cert("other-ca.pem")}
    result = subject.call("client", CA, environ=store)
    assert not any("other root" in c for c in result.value.ca_certs)  # cafile given: no defaults
    sneaky = textwrap.dedent('''
        import ssl
        def client(cafile):
            ctx = ssl.create_default_context(cafile=cafile)
            ctx.load_default_certs()
            return ctx
    ''')
    if isinstance(subject, InProcessSubject):
        exec(sneaky, subject.namespace)
        assert any("other root" in c for c in subject.call("client", CA, environ=store).value.ca_certs)


def test_an_ssl_error_keeps_its_verify_code(subject):
    error = subject.call("verify_error", CA, cert("other-chain.pem"), cert("other.key")).error
    assert error.is_a("SSLCertVerificationError") and error.is_a("SSLError") and error.is_a(ValueError)
    assert error.verify_code == 20


def test_an_asyncio_transport_left_open_is_a_leak(subject):
    import socket
    with socket.create_server(("127.0.0.1", 0)) as listener:
        result = subject.call("drop_a_transport", listener.getsockname()[1])
    assert result.value == "dropped"
    assert result.leaked, "an unclosed StreamWriter's transport must be reported"
