"""HTTPS endpoints and the connection phases (DNS, TCP connect, TLS handshake) reported apart from TTFT.

A local TLS server on 127.0.0.1 with a self-signed certificate made in the test: refused by default (the
certificate is verified), accepted when its certificate is passed as the CA file.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from tianping.serving.h1 import TLSConfigError
from tianping.serving.probe import ProbeTimeouts, StreamingProbe

MSG = [{"role": "user", "content": "hi"}]
TIMEOUTS = ProbeTimeouts(ttft_s=5.0, idle_s=5.0, total_s=10.0)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for IP 127.0.0.1 and DNS localhost, and its key, as PEM files."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("neither cryptography nor the openssl CLI is available")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
            + ["-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost"]
            + ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            check=True,
            capture_output=True,
        )
        return cert, key
    pkey = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(pkey.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(pkey, hashes.SHA256())
    )
    cert.write_bytes(built.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        pkey.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert, key


def _reply() -> bytes:
    events = [{"choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]} for w in ("a", "b")]
    events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n" % len(body)
    return head + body


async def _server(tls: ssl.SSLContext | None, accepted: list[int]):
    """Answers every request on a connection with a two-token stream and keeps the connection open."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(x.split(b":")[1]) for x in head.split(b"\r\n") if x.lower().startswith(b"content-length")
                )
                await reader.readexactly(length)
                writer.write(_reply())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    return server, server.sockets[0].getsockname()[1]


def _server_tls(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    cert, key = _self_signed(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx, cert


def _run(url: str, calls: int = 1, **probe_kw):
    async def go():
        probe = StreamingProbe(url, "m", timeouts=TIMEOUTS, **probe_kw)
        try:
            return [await probe.probe(MSG) for _ in range(calls)]
        finally:
            await probe.aclose()

    return go()


def test_self_signed_certificate_is_refused_by_default(tmp_path):
    tls, _ = _server_tls(tmp_path)

    async def go():
        accepted: list[int] = []
        server, port = await _server(tls, accepted)
        async with server:
            return await _run(f"https://127.0.0.1:{port}/v1")

    (r,) = asyncio.run(go())
    assert not r.ok and r.failure == "connect_error", r
    assert "not trusted" in r.error and "self-signed" in r.error and "--ca-file" in r.error, r.error
    assert r.http_status is None and r.queue_s is None and r.connection_reused is None


def test_ca_file_trusts_the_server_and_phases_are_reported_cold_then_warm(tmp_path):
    tls, cert = _server_tls(tmp_path)

    async def go():
        accepted: list[int] = []
        server, port = await _server(tls, accepted)
        async with server:
            return await _run(f"https://127.0.0.1:{port}/v1", calls=3, ca_file=str(cert)), accepted

    (cold, warm, warm2), accepted = asyncio.run(go())
    assert cold.ok and warm.ok and warm2.ok, (cold, warm)
    assert len(accepted) == 1  # one connection, kept alive
    assert cold.connection_reused is False
    assert cold.dns_s is not None and cold.connect_s is not None and cold.tls_s is not None
    assert 0 <= cold.dns_s < 1 and 0 <= cold.connect_s < 1 and 0 < cold.tls_s < 2
    # the phases happen before the request is sent: inside queue_s, outside ttft_s
    assert cold.dns_s + cold.connect_s + cold.tls_s <= cold.queue_s
    for r in (warm, warm2):
        assert r.connection_reused is True and r.dns_s is None and r.connect_s is None and r.tls_s is None
        assert r.queue_s < cold.queue_s


def test_plain_http_by_host_name_reports_dns_and_connect_but_no_tls():
    async def go():
        accepted: list[int] = []
        server, port = await _server(None, accepted)
        async with server:
            # localhost may resolve to ::1 first, where nothing listens: the next address is tried
            return await _run(f"http://localhost:{port}/v1")

    (r,) = asyncio.run(go())
    assert r.ok and r.connection_reused is False, r
    assert r.dns_s is not None and r.connect_s is not None and r.tls_s is None


def test_unreadable_ca_file_is_a_clear_error_at_once(tmp_path):
    with pytest.raises(TLSConfigError, match="missing.pem"):
        StreamingProbe("https://127.0.0.1:1/v1", "m", ca_file=str(tmp_path / "missing.pem"))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(TLSConfigError, match="junk.pem"):
        StreamingProbe("https://127.0.0.1:1/v1", "m", ca_file=str(junk))


def test_loadtest_cli_over_https_with_ca_file(tmp_path):
    """The CLI end to end: a bad --ca-file is a flag error, a good one lets the run through."""
    import threading

    from typer.testing import CliRunner

    from tianping.cli import app

    tls, cert = _server_tls(tmp_path)
    loop = asyncio.new_event_loop()
    server, port = loop.run_until_complete(_server(tls, []))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        head = ["loadtest", "--model", "m", "--no-live", "-n", "2", "--base-url", f"https://127.0.0.1:{port}/v1"]
        bad = CliRunner().invoke(app, [*head, "--ca-file", str(tmp_path / "nope.pem")])
        assert bad.exit_code == 2 and "--ca-file" in bad.output and "nope.pem" in bad.output, bad.output
        out = tmp_path / "lt.json"
        done = CliRunner().invoke(app, [*head, "--ca-file", str(cert), "--json", str(out)])
        assert done.exit_code == 0, done.output
        records = [r for stage in json.loads(out.read_text())["stages"] for r in stage["records"]]
        assert len(records) == 2 and all(r["ok"] for r in records)
        assert sum(r["tls_s"] is not None for r in records) >= 1
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        server.close()
        loop.close()
