"""Berth's registry clients against real docker-registry servers started by the fixtures."""
from __future__ import annotations

import pytest

from services.registries.clients import errors, normalize_url
from services.registries.clients.http import HttpSettings, parse_retry_after
from services.registries.clients.v2 import RegistryV2Client, parse_next_link
from tests.fixtures.registry import MANY_TAGS, PASSWORD, USER, free_port

pytestmark = pytest.mark.registry


def client(server, user=USER, password=PASSWORD, verify=True):
    return RegistryV2Client(server.url, user, password, HttpSettings(timeout=5, verify=verify))


def test_basic_auth_browse_and_details(many_tags):
    registries = many_tags
    c = client(registries.basic)
    assert "Connected" in c.ping()
    repos = c.catalog_all()
    assert {"team/demo", "team/multi", "team/many"} <= set(repos)
    assert sorted(c.tag_names("team/demo")) == ["latest", "v1.0"]
    assert len(c.tag_names("team/many")) == MANY_TAGS
    digest = registries.digests[f"{registries.basic.port}/team/demo:v1.0"]
    assert c.manifest_digest("team/demo", "v1.0") == digest
    d = c.image_details("team/demo", "v1.0")
    assert d.digest == digest and d.exposed_ports == [(8080, "TCP")]
    assert ("GREETING", "hello") in d.env and d.size > 100_000
    assert d.created.isoformat() == "2026-11-01T10:00:00" and d.platforms == ["linux/amd64"]


def test_oci_index_lists_platforms(registries):
    d = client(registries.basic).image_details("team/multi", "v2.0")
    assert d.digest == registries.digests["multi:v2.0"]
    assert d.platforms == ["linux/amd64", "linux/arm64"]
    assert d.media_type == "application/vnd.oci.image.index.v1+json"
    assert d.exposed_ports == [(8080, "TCP")]


def test_basic_auth_wrong_password(registries):
    with pytest.raises(errors.RegistryAuthError, match="401"):
        client(registries.basic, password="wrong").ping()
    with pytest.raises(errors.RegistryAuthError):
        client(registries.basic, user=None, password=None).ping()


def test_bearer_token_flow_caches_tokens_per_scope(registries):
    c = client(registries.token)
    assert "Connected" in c.ping()
    assert sorted(c.tag_names("team/demo")) == ["latest", "v1.0"]
    before = registries.token_server.requests
    for _ in range(3):
        c.tag_names("team/demo")
        c.manifest_digest("team/demo", "v1.0")
    assert registries.token_server.requests == before  # one token per scope, reused until expiry
    assert "team/demo" in c.catalog_all()
    with pytest.raises(errors.RegistryAuthError, match="token service rejected"):
        client(registries.token, password="wrong").ping()


def test_a_known_token_service_is_asked_first_for_a_new_scope(registries):
    """Once a challenge named the token service, a repository not seen yet costs the registry one
    request (its token bought first), not a 401 and a retry. Counted at a proxy in front of it."""
    from tests.fixtures.latency import SlowProxy

    proxy = SlowProxy(registries.token.url, 0)
    try:
        c = RegistryV2Client(proxy.url, USER, PASSWORD)
        assert c.manifest_digest("team/demo", "v1.0")  # the challenge: 401, then with a token
        assert proxy.count() == 2
        tokens = registries.token_server.requests
        registries.pusher(registries.token).push("team/other-scope", "1.0")
        assert c.manifest_digest("team/other-scope", "1.0")
        assert proxy.count() == 3  # one request: the new scope's token came first
        assert registries.token_server.requests == tokens + 2  # the pusher's own, and Berth's
    finally:
        proxy.stop()


def test_anonymous_bearer_token_has_no_access(registries):
    c = client(registries.token, user=None, password=None)
    c.ping()  # /v2/ needs no scope
    with pytest.raises(errors.RegistryAuthError):
        c.tag_names("team/demo")


def test_tls_needs_the_ca_or_an_explicit_skip(registries, tmp_path):
    with pytest.raises(errors.RegistryTLSError, match="CA bundle"):
        client(registries.tls).ping()
    ca = tmp_path / "ca.pem"
    ca.write_text(registries.ca_pem)
    assert "Connected" in client(registries.tls, verify=str(ca)).ping()
    assert "Connected" in client(registries.tls, verify=False).ping()


def test_connection_errors_have_specific_messages():
    with pytest.raises(errors.RegistryConnectionError, match="refused"):
        RegistryV2Client(f"http://127.0.0.1:{free_port()}", settings=HttpSettings(timeout=2)).ping()
    with pytest.raises(errors.RegistryConnectionError, match="DNS"):
        RegistryV2Client("http://no-such-host.invalid", settings=HttpSettings(timeout=2)).ping()


def test_timeout(unresponsive_server):
    with pytest.raises(errors.RegistryTimeout, match="timeout"):
        RegistryV2Client(unresponsive_server, settings=HttpSettings(timeout=0.5)).ping()


def test_not_a_registry_and_huge_and_broken_link(misbehaving):
    with pytest.raises(errors.RegistryProtocolError, match="Registry API"):
        RegistryV2Client(misbehaving.url + "/html").ping()
    with pytest.raises(errors.RegistryProtocolError, match="no Registry v2 API"):
        RegistryV2Client(misbehaving.url + "/nothing").ping()
    with pytest.raises(errors.RegistryResponseTooLarge):
        RegistryV2Client(misbehaving.url + "/huge", settings=HttpSettings(max_bytes=1024 * 1024)).ping()
    with pytest.raises(errors.RegistryProtocolError, match="Link header"):
        RegistryV2Client(misbehaving.url + "/badlink").tag_names("a/b")


def test_rate_limit_honours_retry_after(misbehaving):
    waits = []
    c = RegistryV2Client(misbehaving.url + "/limited",
                         settings=HttpSettings(retries=2, sleep=waits.append))
    with pytest.raises(errors.RegistryRateLimited) as info:
        c.tag_names("a/b")
    assert info.value.retry_after == 120 and waits == []  # too long to wait inside a request


def test_next_link_parsing():
    base = "http://r.example/v2/x/tags/list?n=2"
    assert parse_next_link('</v2/x/tags/list?n=2&last=b>; rel="next"', base) == \
        "http://r.example/v2/x/tags/list?n=2&last=b"
    assert parse_next_link(None, base) is None
    with pytest.raises(errors.RegistryProtocolError):
        parse_next_link('<http://evil.example/v2/x>; rel="next"', base)
    with pytest.raises(errors.RegistryProtocolError):
        parse_next_link("garbage", base)


@pytest.mark.parametrize("kind,raw,expected", [
    ("registry", "registry.example.com", ("registry", "https://registry.example.com")),
    ("registry", "http://127.0.0.1:5000/", ("registry", "http://127.0.0.1:5000")),
    ("registry", "https://r.example/v2/", ("registry", "https://r.example")),
    ("registry", "docker.io", ("dockerhub", "https://registry-1.docker.io")),
    ("harbor", "index.docker.io", ("dockerhub", "https://registry-1.docker.io")),
    ("registry", "https://registry.hub.docker.com", ("dockerhub", "https://registry-1.docker.io")),
    ("registry", "registry-1.docker.io", ("dockerhub", "https://registry-1.docker.io")),
    ("dockerhub", "", ("dockerhub", "https://registry-1.docker.io")),
    ("harbor", "Harbor.Example.com:8443", ("harbor", "https://harbor.example.com:8443")),
])
def test_url_normalization(kind, raw, expected):
    assert normalize_url(kind, raw) == expected


@pytest.mark.parametrize("raw,message", [
    ("", "Enter the registry"),
    ("https://user:pw@r.example", "username and password"),
    ("https://r.example/?x=1", "query"),
    ("https://r.example/#top", "fragment"),
    ("ftp://r.example", "http:// or https://"),
    ("https://r.example:99999", "port"),
    ("https://", "host name"),
    ("https://r .example", "spaces"),
])
def test_url_normalization_rejects(raw, message):
    with pytest.raises(ValueError, match=message):
        normalize_url("registry", raw)


@pytest.mark.parametrize("value,expected", [
    ("120", 120.0), ("0", 0.0), ("-5", 0.0), ("soon", None), ("", None), (None, None), ("nan", None),
    ("inf", None), ("1e400", None), ("99999999", 86400.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ("Wed, 99 Foo 2015 99:99:99 GMT", None)])
def test_retry_after_values_a_server_may_send(value, expected):
    assert parse_retry_after(value) == expected


def test_hostile_listings_end_in_messages_or_clean_names(misbehaving):
    def looplink_calls():
        return len([c for c in misbehaving.server.calls if c[1].startswith("/looplink/")])
    before = looplink_calls()
    with pytest.raises(errors.RegistryProtocolError, match="already read"):
        RegistryV2Client(misbehaving.url + "/looplink").tag_names("a/b")
    assert looplink_calls() == before + 1
    with pytest.raises(errors.RegistryProtocolError, match="nested deeper"):
        RegistryV2Client(misbehaving.url + "/deep").tag_names("a/b")
    assert RegistryV2Client(misbehaving.url + "/junktags").tag_names("a/b") == ["v1"]
    assert RegistryV2Client(misbehaving.url + "/longtag").tag_names("a/b") == ["1.0.0"]


@pytest.mark.parametrize("body,detail", [
    (b'{"errors": [{"code": "DENIED", "message": "no"}]}', " (DENIED: no)"),
    (b'{"detail": "Object not found"}', ""),  # not a registry's shape: only the Docker Hub client reads it
    (b'{"errors": [{"code": "internal secret", "message": "x"}]}', ""),
    (b'[1, "x", {"tags": [3]}]', ""), (b'{"errors": "oops"}', ""), (b'{"errors": [3]}', ""),
    (b'{"detail": {"deep": 1}}', ""), (b"<html>", ""), (b"[" * 100_000, ""), (b"", "")])
def test_error_details_from_any_body(body, detail):
    assert errors.detail_of(body) == detail
    assert errors.detail_of(b'{"detail": "Object not found"}', hub=True) == " (Object not found)"
    error = errors.for_status(404, "Not found." + errors.detail_of(body))
    assert isinstance(error, errors.RegistryNotFound) and error.status == 404


def test_https_to_a_plain_http_port_says_so(registries):
    url = registries.basic.url.replace("http://", "https://")
    with pytest.raises(errors.RegistryTLSError) as caught:
        RegistryV2Client(url, USER, PASSWORD).ping()
    assert "does not speak HTTPS on this port" in caught.value.message, caught.value.message


@pytest.mark.parametrize("tag", ["size", "configstr", "index", "indexstr"])
def test_manifests_and_configs_of_the_wrong_types_are_read_around(misbehaving, tag):
    details = RegistryV2Client(misbehaving.url + "/odd").image_details("team/x", tag)
    assert details.size in (0, None) and details.env == [] and details.exposed_ports == [] and details.command == []
    assert details.created is None and all(isinstance(p, str) for p in details.platforms)


def test_a_harbor_artifact_list_of_the_wrong_types_keeps_the_real_tags(misbehaving):
    from services.registries.clients.harbor import HarborClient

    (tag,) = HarborClient(misbehaving.url + "/odd").tags("proj/repo")
    assert tag.name == "ok" and tag.size == 0 and tag.digest == "sha256:" + "d" * 64


def test_credentials_go_only_to_a_token_realm_on_the_registrys_host(registries):
    """The token registry's realm is http://127.0.0.1:…; reached as localhost, that is another host."""
    as_other_host = registries.token.url.replace("127.0.0.1", "localhost")
    before = registries.token_server.requests
    with pytest.raises(errors.RegistryAuthError) as caught:
        RegistryV2Client(as_other_host, USER, PASSWORD).ping()
    assert "http://127.0.0.1" in caught.value.message and "does not send" in caught.value.message
    assert registries.token_server.requests == before  # the credentials never left
    assert "Connected" in RegistryV2Client(registries.token.url, USER, PASSWORD).ping()


def test_tag_lists_leave_the_page_size_to_a_registry_that_answers_whole_lists(misbehaving, registries):
    """The first listing asks without `n` (Distribution then answers all at once, without the sort
    `n` costs it); a registry that pages anyway is asked for the largest pages from its second
    page on, and from the start on later listings."""
    paging = RegistryV2Client(misbehaving.url + "/pages")
    before = len(misbehaving.server.calls)
    assert paging.tag_names("a/b") == [f"1.0.{i}" for i in range(5)]
    first = [p for _, p in misbehaving.server.calls[before:]]
    assert first == ["/pages/v2/a/b/tags/list", "/pages/v2/a/b/tags/list?last=1.0.1&n=10000"]
    before = len(misbehaving.server.calls)
    assert paging.tag_names("a/b") == [f"1.0.{i}" for i in range(5)]
    assert [p for _, p in misbehaving.server.calls[before:]] == ["/pages/v2/a/b/tags/list?n=10000"]

    whole = RegistryV2Client(registries.basic.url, USER, PASSWORD)
    assert whole.tag_names("team/demo") and whole.tag_names("team/demo")
    assert whole._whole_lists is True  # the real docker-registry answered everything without `n`


def test_gets_and_heads_take_the_lean_path_and_keep_their_connection(registries, monkeypatch):
    """A poll's HEAD and tag list go to urllib3 through the client's pinned pools (requests' layer
    cost as much CPU as the request), over one kept connection; a session holding cookies still
    goes through requests, which sends them."""
    import requests

    through_requests = []
    real = requests.Session.request

    def counted(self, method, url, **kw):
        through_requests.append(method)
        return real(self, method, url, **kw)
    monkeypatch.setattr(requests.Session, "request", counted)
    c = client(registries.basic)
    for _ in range(3):
        assert c.manifest_digest("team/demo", "v1.0")
        assert "v1.0" in c.tag_names("team/demo")
    assert through_requests == []
    manager = c.session.get_adapter(registries.basic.url).poolmanager
    pools = [manager.pools[key] for key in manager.pools.keys()]
    assert len(pools) == 1 and pools[0].num_connections == 1  # one connection, kept
    c.session.cookies.set("sticky", "1")
    assert c.manifest_digest("team/demo", "v1.0")
    assert through_requests == ["HEAD"]
