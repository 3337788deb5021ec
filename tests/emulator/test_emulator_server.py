"""The server: HTTP/1.1 and h2c on one port, a clean stop, the flush route, the CLI entry point."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest
from botocore.exceptions import ClientError

from pipeline.emulator import EmbeddedEmulator, flush_firehose

pytestmark = pytest.mark.emulator

LIST_STREAMS_HEADERS = {
    "content-type": "application/x-amz-json-1.1",
    "x-amz-target": "Kinesis_20131202.ListStreams",
    # moto reads the service and region from the credential scope and checks no signature.
    "authorization": (
        "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/kinesis/aws4_request, "
        "SignedHeaders=host, Signature=0"
    ),
}


def list_streams_h2c(port: int) -> tuple[bytes, dict[str, Any]]:
    """ListStreams over HTTP/2 with prior knowledge and no TLS, as the KCL's Netty client does."""
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.initiate_connection()
    body = b'{"Limit": 10000}'
    headers = [
        (":method", "POST"),
        (":path", "/"),
        (":scheme", "http"),
        (":authority", f"127.0.0.1:{port}"),
        ("content-length", str(len(body))),
        *LIST_STREAMS_HEADERS.items(),
    ]
    connection.send_headers(1, headers)
    connection.send_data(1, body, end_stream=True)
    status, data, ended = b"", b"", False
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(connection.data_to_send())
        while not ended:
            chunk = sock.recv(65536)
            assert chunk, "server closed the HTTP/2 connection"
            for event in connection.receive_data(chunk):
                if isinstance(event, h2.events.ResponseReceived):
                    status = dict(event.headers)[b":status"]
                elif isinstance(event, h2.events.DataReceived):
                    data += event.data
                    connection.acknowledge_received_data(event.flow_controlled_length, 1)
                elif isinstance(event, h2.events.StreamEnded):
                    ended = True
            sock.sendall(connection.data_to_send())
    return status, json.loads(data)


def test_http11_and_h2c_prior_knowledge_on_one_port(
    emulator: EmbeddedEmulator, client: Callable[[str], Any], name: str
) -> None:
    client("kinesis").create_stream(StreamName=name, ShardCount=1)

    h1 = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=10)
    h1.request("POST", "/", body=b'{"Limit": 10000}', headers=LIST_STREAMS_HEADERS)
    response = h1.getresponse()
    h1_body = json.loads(response.read())
    h1.close()
    assert (response.version, response.status) == (11, 200)
    assert name in h1_body["StreamNames"]

    status, h2_body = list_streams_h2c(emulator.port)
    assert status == b"200"
    assert name in h2_body["StreamNames"]


def test_stop_frees_the_port() -> None:
    emulator = EmbeddedEmulator().start()
    port = emulator.port
    assert emulator.endpoint_url == f"http://127.0.0.1:{port}"
    emulator.stop()
    emulator.stop()  # idempotent

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # free again: nothing listens or holds it


def test_flush_route_answers_only_post(emulator: EmbeddedEmulator) -> None:
    assert flush_firehose(emulator.endpoint_url, stream="no-such-stream") == 0
    url = f"{emulator.endpoint_url}/_emulator/firehose/flush"
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(url, timeout=10)
    with raised.value as error:
        assert (error.code, json.load(error)) == (405, {"error": "use POST"})


def test_start_fails_clearly_when_the_port_is_taken(emulator: EmbeddedEmulator) -> None:
    with pytest.raises(OSError, match="in use"):
        EmbeddedEmulator(port=emulator.port).start()


def test_serve_stops_on_sigterm() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = f"from pipeline.emulator import serve; serve(port={port})"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # needs none
    process = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "serve() never accepted connections"
            try:
                returncode = process.wait(timeout=0.05)  # a short poll, not a fixed sleep
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"serve() exited with {returncode}: {process.communicate()[1]!r}")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_head_requests_get_a_response(client: Callable[[str], Any], name: str) -> None:
    """hypercorn's WSGI adapter never starts an empty response: HEAD must still be answered."""
    s3 = client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"hello")
    assert s3.head_object(Bucket=name, Key="k")["ContentLength"] == 5
    with pytest.raises(ClientError, match="404"):
        s3.head_object(Bucket=name, Key="missing")
