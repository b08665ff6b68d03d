"""DNS rebinding: a host name that answers a public address when Berth checks it and 127.0.0.1 a
moment later must never reach loopback. A test resolver plays the name server; 127.0.0.2 stands in
for a public address (the policy is told to count it as one), so the listeners can run here. Without
pinning, the connection would resolve the name again and reach the loopback listener."""
from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from services.registries.clients import http
from services.registries.clients.errors import RegistryConnectionError

PUBLIC = "127.0.0.2"  # the stand-in public address
REAL_GETADDRINFO = socket.getaddrinfo


class Listener:
    def __init__(self, address: str, redirect_to: str | None = None):
        self.hits: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _answer(self):
                outer.hits.append(f"{self.command} {self.path}")
                if redirect_to:
                    self.send_response(302)
                    self.send_header("Location", redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")
            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer((address, 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def loopback():
    """What a rebinding name must never reach."""
    listener = Listener("127.0.0.1")
    yield listener
    listener.close()


@pytest.fixture
def resolver(monkeypatch):
    """rebind.test: the public stand-in to the first question, 127.0.0.1 to every later one;
    hop.test: always the public stand-in; every other name as the system resolves it."""
    asked: dict[str, int] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host in ("rebind.test", "hop.test"):
            asked[host] = asked.get(host, 0) + 1
            address = PUBLIC if host == "hop.test" or asked[host] == 1 else "127.0.0.1"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]
        return REAL_GETADDRINFO(host, port, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(http, "_allowed", lambda address: address.is_global or str(address) == PUBLIC)
    return asked


def _settings() -> http.HttpSettings:
    return http.HttpSettings(allow_private=False, retries=0, timeout=5)


def test_a_registry_name_rebinding_to_loopback_after_the_check_is_never_reached(loopback, resolver):
    with pytest.raises(RegistryConnectionError, match="rebind.test is at 127.0.0.1, a private or local address"):
        http.send(requests.Session(), _settings(), "GET", f"http://rebind.test:{loopback.port}/v2/")
    assert resolver["rebind.test"] >= 2  # checked, then asked again to connect: refused, not followed
    assert loopback.hits == []


def test_the_same_through_a_redirect(loopback, resolver):
    hop = Listener(PUBLIC, redirect_to=f"http://rebind.test:{loopback.port}/v2/")
    try:
        with pytest.raises(RegistryConnectionError, match="127.0.0.1, a private or local address"):
            http.send(requests.Session(), _settings(), "GET", f"http://hop.test:{hop.port}/v2/")
        assert hop.hits == ["GET /v2/"]  # the public hop answered; its redirect did not reach loopback
    finally:
        hop.close()
    assert loopback.hits == []


def test_a_notification_receiver_rebinding_to_loopback_is_never_reached(loopback, resolver):
    with pytest.raises(RegistryConnectionError, match="127.0.0.1, a private or local address"):
        http.guarded_request("POST", f"http://rebind.test:{loopback.port}/hook", _settings(), data=b"{}", timeout=5)
    assert loopback.hits == []


def test_a_public_name_is_still_reached_on_the_address_checked(resolver):
    hop = Listener(PUBLIC)
    try:
        answer = http.send(requests.Session(), _settings(), "GET", f"http://hop.test:{hop.port}/v2/")
        assert answer.status == 200 and hop.hits == ["GET /v2/"]
    finally:
        hop.close()
