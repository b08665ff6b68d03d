"""Version ranges, row by row from the rules node-semver's README ("Ranges", "Advanced Range
Syntax", "Prerelease Tags") and Masterminds/semver v3's README ("Basic Comparisons", "Hyphen Range
Comparisons", "Wildcards In Comparisons", "Tilde", "Caret") state, plus the regressions #17 lists."""
from __future__ import annotations

import pytest

from services.delivery.semver import RangeError, describe, parse_range, satisfies
from services.delivery.triggers import Rule, check_pattern, matches
from services.delivery.versions import parse_version


def ok(range_text: str, version: str, include: bool = False) -> bool:
    return satisfies(parse_version(version), parse_range(range_text, include), include)


# What each range desugars to, as node-semver's README writes it (its `-0` upper bounds included).
@pytest.mark.parametrize("text,meaning", [
    # X-ranges
    ("*", "*"),
    ("1.x", ">=1.0.0 <2.0.0-0"),
    ("1.2.x", ">=1.2.0 <1.3.0-0"),
    ("1", ">=1.0.0 <2.0.0-0"),
    ("1.2", ">=1.2.0 <1.3.0-0"),
    # An empty range, or an empty alternative, is any version in both peers (#31); the rule form
    # still asks for a pattern (test_an_empty_range_is_any_version_but_the_form_asks_for_one).
    ("", "*"),
    ("1.x || ", ">=1.0.0 <2.0.0-0 || *"),
    ("|| 2", "* || >=2.0.0 <3.0.0-0"),
    # Hyphen ranges
    ("1.2.3 - 2.3.4", ">=1.2.3 <=2.3.4"),
    ("1.2 - 2.3.4", ">=1.2.0 <=2.3.4"),
    ("1.2.3 - 2.3", ">=1.2.3 <2.4.0-0"),
    ("1.2.3 - 2", ">=1.2.3 <3.0.0-0"),
    # ... followed by more comparators of the same set, with a space or a comma (#31)
    ("1.0.0 - 2.0.0 <=2.0.0", ">=1.0.0 <=2.0.0 <=2.0.0"),
    ("1.0.0 - 2.0.0, <=1.5.0", ">=1.0.0 <=2.0.0 <=1.5.0"),
    ("1 - 2 !=1.5.0", ">=1.0.0 <3.0.0-0 !=1.5.0"),
    # Partial versions with a pre-release are whole versions, as Masterminds reads them (#31)
    (">0-0", ">0.0.0-0"),
    (">=0.0-0", ">=0.0.0-0"),
    (">=1.0-beta", ">=1.0.0-beta"),
    ("!=4.1-alpha", "!=4.1.0-alpha"),
    ("1.0-rc.1 - 2", ">=1.0.0-rc.1 <3.0.0-0"),
    # Tilde ranges
    ("~1.2.3", ">=1.2.3 <1.3.0-0"),
    ("~1.2", ">=1.2.0 <1.3.0-0"),
    ("~1", ">=1.0.0 <2.0.0-0"),
    ("~0.2.3", ">=0.2.3 <0.3.0-0"),
    ("~0.2", ">=0.2.0 <0.3.0-0"),
    ("~0", ">=0.0.0 <1.0.0-0"),
    ("~1.2.3-beta.2", ">=1.2.3-beta.2 <1.3.0-0"),
    # Caret ranges
    ("^1.2.3", ">=1.2.3 <2.0.0-0"),
    ("^0.2.3", ">=0.2.3 <0.3.0-0"),
    ("^0.0.3", ">=0.0.3 <0.0.4-0"),
    ("^1.2.3-beta.2", ">=1.2.3-beta.2 <2.0.0-0"),
    ("^0.0.3-beta", ">=0.0.3-beta <0.0.4-0"),
    ("^1.2.x", ">=1.2.0 <2.0.0-0"),
    ("^0.0.x", ">=0.0.0 <0.1.0-0"),
    ("^0.0", ">=0.0.0 <0.1.0-0"),
    ("^1.x", ">=1.0.0 <2.0.0-0"),
    ("^0.x", ">=0.0.0 <1.0.0-0"),
    # Partial versions in comparators are X-ranges (#17)
    (">5", ">=6.0.0"),
    (">5.1", ">=5.2.0"),
    ("<=5", "<6.0.0-0"),
    ("<5", "<5.0.0-0"),
    (">=5", ">=5.0.0"),
    ("=2.0", ">=2.0.0 <2.1.0-0"),
    # Masterminds spellings
    (">1.1, <2", ">=1.2.0 <2.0.0-0"),
    ("=>1.2.3 =<1.4", ">=1.2.3 <1.5.0-0"),
    ("~> 1.2", ">=1.2.0 <1.3.0-0"),
    ("v1.2.3", "=1.2.3"),
    ("~ 1.2", ">=1.2.0 <1.3.0-0"),
    ("^ 1.2", ">=1.2.0 <2.0.0-0"),
    ("~1.x", ">=1.0.0 <2.0.0-0"),
    ("1.2.3 || >=2.5.0 <3", "=1.2.3 || >=2.5.0 <3.0.0-0"),
])
def test_ranges_mean_what_node_semver_says(text, meaning):
    if meaning is None:
        with pytest.raises(RangeError):
            parse_range(text)
        return
    assert describe(parse_range(text)) == meaning


@pytest.mark.parametrize("text,meaning", [
    ("1.x", ">=1.0.0-0 <2.0.0-0"),
    ("~2", ">=2.0.0-0 <3.0.0-0"),
    ("~1.2", ">=1.2.0-0 <1.3.0-0"),
    ("~1.2.3", ">=1.2.3 <1.3.0-0"),
    ("^1.2", ">=1.2.0-0 <2.0.0-0"),
    ("^0.2.3", ">=0.2.3-0 <0.3.0-0"),
    ("^1.2.3", ">=1.2.3 <2.0.0-0"),
    ("1.2.3 - 2.3.4", ">=1.2.3-0 <2.3.5-0"),
    (">=5", ">=5.0.0-0"),
])
def test_with_prereleases_lower_bounds_become_dash_zero(text, meaning):
    assert describe(parse_range(text, True)) == meaning


@pytest.mark.parametrize("text,version,include,expected", [
    # #17's regressions: the next version's pre-releases are outside the upper bound.
    (">=5.0.0 <6", "6.0.0-rc.1", True, False),
    ("^5", "6.0.0-rc.1", True, False),
    (">5", "5.0.1", False, False),
    (">5", "6.0.0", False, True),
    ("<=5", "5.3.0", False, True),
    ("<=5", "6.0.0", False, False),
    ("=2.0", "2.0.9", False, True),
    ("=2.0", "2.1.0", False, False),
    ("~2", "2.0.0-pre.0", True, True),
    ("1.x", "1.9.0", False, True),
    ("1.2.*", "1.2.7", False, True),
    ("*", "0.0.1", False, True),
    ("~1.x", "1.5.0", False, True),
    ("^1.x", "1.5.0", False, True),
    ("1.2 - 2.3.4", "2.3.4", False, True),
    ("1.2 - 2.3.4", "2.3.5", False, False),
    (">1.1, <2", "1.1.5", False, False),
    (">1.1, <2", "1.2.0", False, True),
    ("!=1.2.3", "1.2.3", False, False),
    ("!=1.2.3", "1.2.4", False, True),
    ("!=1.2", "1.2.9", False, False),
    ("!=1.2", "1.3.0", False, True),
    (">=1, !=1.4.0", "1.4.0", False, False),
    ("=>1.2", "1.2.0", False, True),
    ("=<1.2", "1.2.9", False, True),
    # Pre-releases (node-semver "Prerelease Tags"): only of the same [major, minor, patch] tuple.
    (">1.2.3-alpha.3", "1.2.3-alpha.7", False, True),
    (">1.2.3-alpha.3", "3.4.5-alpha.9", False, False),
    (">1.2.3-alpha.3", "3.4.5", False, True),
    (">1.2.3-alpha.3", "3.4.5-alpha.9", True, True),
    ("^1.2.3-alpha", "1.2.3-pre", False, True),
    ("^1.2.3-alpha", "1.2.4-pre", False, False),
    ("^1.0.0", "1.0.1-rc1", True, True),
    ("^1.0.0", "1.0.1-rc1", False, False),
    ("2.x", "2.0.0-pre.0", True, True),
    # Build metadata is ignored.
    ("^1.2.3+build", "1.3.0", False, True),
    ("1.0.0 - 2.0.0", "1.2.3", False, True),
    ("<=7.x", "7.9.9", False, True),
    ("<1.2", "1.1.1", False, True),
    ("~v0.5.4-pre", "0.5.5", False, True),
    (">=0.2.3 || <0.0.1", "0.0.0", False, True),
    ("x - 1.x", "0.9.7", False, True),
])
def test_satisfies(text, version, include, expected):
    assert ok(text, version, include) is expected


@pytest.mark.parametrize("text,where", [
    (">=", "Expected a version after '>=' at position 3"),
    ("1.2.3.4", "at position 6"),
    ("~>", "Expected a version after '~'"),
    ("1.02", "without leading zeros at position 3"),
    (">=5.0.0 <6 foo", "Expected a version number, x or * at position 12"),
    ("1.x.3", "a number cannot follow x or *"),
    ("1.2.3-", "Expected a pre-release identifier"),
    ("a" * 300, "at most 256 characters"),
    ("1.2.3 -", "Expected a version number"),
    # node-semver's loose spellings: refused with the reason (#31)
    ("~ 1.0.3alpha", "Expected '-' before the pre-release at position 8 (found 'alpha'): Berth reads ranges "
                     "strictly, as node-semver does without its loose option"),
    ("1.2.3pre+asdf - 2.4.3-pre+asdf", "Expected '-' before the pre-release at position 6 (found 'pre+asdf')"),
    ("1.x-beta", "A pre-release belongs to one version, not to x or * (position 4)"),
])
def test_invalid_ranges_say_where_and_what(text, where):
    with pytest.raises(RangeError) as e:
        parse_range(text)
    assert where in str(e.value)
    assert check_pattern("semver", text) == str(e.value) or len(text) > 255


def test_an_empty_range_is_any_version_but_the_form_asks_for_one():
    assert satisfies(parse_version("7.1.0"), parse_range(""))
    assert satisfies(parse_version("0.0.1"), parse_range("  "))
    assert check_pattern("semver", "") == "Enter a pattern for this rule."


def test_rule_reasons_and_regex_errors_in_plain_words():
    rule = Rule("semver", "^5", include_prereleases=False)
    assert matches(rule, "5.3.0-rc.1", "5.0.0") == (
        False, "tag 5.3.0-rc.1 is a pre-release and the rule does not include pre-releases")
    assert matches(rule, "6.0.0", "5.0.0") == (False, "version 6.0.0 is not in range ^5")
    assert matches(rule, "v5.1", "5.0.0") == (True, "version v5.1 is in range ^5")  # Berth's leniency
    message = check_pattern("regex", "v5.(")
    assert message == "This is not a regular expression RE2 accepts: missing ): v5.(" and "b'" not in message


# --- Docker references (distribution/reference's ParseNormalizedNamed) ---

@pytest.mark.parametrize("ref,expected", [
    ("Foo/bar", ("Foo", "bar")),  # upper case in the first component: a host
    ("localhost:5000/a/b", ("localhost:5000", "a/b")),
    ("docker.io/nginx", ("docker.io", "library/nginx")),
    ("index.docker.io/user/app", ("docker.io", "user/app")),
    ("registry-1.docker.io/library/app", ("registry-1.docker.io", "library/app")),  # not an alias by the rule
    ("[::1]:5000/app", ("[::1]:5000", "app")),
    ("example.com/" + "a" * 255, ("example.com", "a" * 255)),  # 255 in the path: the limit, whatever the host
    ("a" * 247, ("docker.io", "library/" + "a" * 247)),  # library/ counts: 255
    ("registry.example.com:5000/" + "b/" * 100 + "c" * 55, ("registry.example.com:5000", "b/" * 100 + "c" * 55)),
])
def test_docker_reference_host_rule(ref, expected):
    """Also the length boundary as distribution/reference judges it: the path, without the host."""
    from services.registries.clients.reference import parse

    r = parse(ref)
    assert (r.host, r.repository) == expected


@pytest.mark.parametrize("ref,message", [
    ("a" * 64, "image id"),
    ("FOO", "lowercase"),
    ("example.com/" + "a" * 256, "at most 255 characters (this one has 256)"),
    ("a" * 248, "at most 255 characters (this one has 256)"),  # library/ + 248 on Docker Hub
    ("example.com/Team/app", "lowercase"),
])
def test_docker_reference_refusals(ref, message):
    from services.registries.clients.reference import parse

    with pytest.raises(ValueError) as e:
        parse(ref)
    assert message in str(e.value)


# --- Webhook payload shapes (#17) ---

def _events(payload: dict, **headers):
    import json

    from services.delivery.webhooks import parse
    return parse({"Content-Type": "application/json", **headers}, json.dumps(payload).encode())


@pytest.mark.parametrize("repository,expected", [
    ("https://registry.example.com/team/app", ("registry.example.com", "team/app")),
    ("registry.example.com/team/app:v1", ("registry.example.com", "team/app")),
    ("docker://Registry.Example.com/team/app", ("registry.example.com", "team/app")),
    ("Team/App", (None, "team/app")),  # a payload's repository is a path: case differs, same repository
    ("team/app", (None, "team/app")),
])
def test_generic_repository_given_as_a_url(repository, expected):
    _, (event,) = _events({"repository": repository, "tag": "v1"})
    assert (event.host, event.repository) == expected


def test_quay_docker_url_with_scheme_and_harbor_resource_url_with_scheme():
    _, (quay,) = _events({"repository": "org/app", "docker_url": "https://quay.io/org/app",
                          "updated_tags": ["v2"]})
    assert (quay.host, quay.repository, quay.tag) == ("quay.io", "org/app", "v2")
    _, (harbor,) = _events({"type": "PUSH_ARTIFACT", "event_data": {
        "repository": {"repo_full_name": "lib/app"},
        "resources": [{"tag": "v3", "digest": "sha256:" + "1" * 64,
                       "resource_url": "https://harbor.example.com/lib/app:v3"}]}})
    assert (harbor.host, harbor.repository) == ("harbor.example.com", "lib/app")


def test_harbor_1x_push_image():
    source, (event,) = _events({"type": "pushImage", "occur_at": 1586922308, "operator": "admin", "event_data": {
        "resources": [{"digest": "sha256:" + "2" * 64, "tag": "latest",
                       "resource_url": "hub.harbor.com/test-webhook/debian:latest"}],
        "repository": {"date_created": 1586922308, "name": "debian", "namespace": "test-webhook",
                       "repo_full_name": "test-webhook/debian", "repo_type": "private"}}})
    assert source == "harbor" and (event.repository, event.tag, event.host) == (
        "test-webhook/debian", "latest", "hub.harbor.com")


def test_ghcr_without_package_url_uses_the_owner_lowercased():
    payload = {"action": "published", "registry_package": {
        "name": "MyApp", "package_type": "CONTAINER", "owner": {"login": "Octo-User"},
        "package_version": {"id": 7, "container_metadata": {"tag": {"name": "v1", "digest": "sha256:" + "3" * 64}}}}}
    _, (event,) = _events(payload, **{"X-GitHub-Event": "registry_package"})
    assert (event.host, event.repository) == ("ghcr.io", "octo-user/myapp")
    payload["organization"] = {"login": "Acme"}
    _, (event,) = _events(payload, **{"X-GitHub-Event": "registry_package"})
    assert event.repository == "acme/myapp"


def test_acr_push_with_an_empty_tag_says_untagged():
    _, (event,) = _events({"id": "x", "timestamp": "2026-11-28T00:00:00Z", "action": "push",
                           "target": {"size": 524, "digest": "sha256:" + "4" * 64, "length": 524,
                                      "repository": "hello-world", "tag": ""},
                           "request": {"id": "y", "host": "myregistry.azurecr.io", "method": "PUT"}})
    assert "untagged" in event.reason and "blob" not in event.reason
    _, (pushed,) = _events({"id": "x", "action": "push", "target": {"digest": "sha256:" + "4" * 64,
                                                                   "repository": "hello-world", "tag": "v1"},
                            "request": {"host": "myregistry.azurecr.io"}})
    assert (pushed.repository, pushed.tag) == ("hello-world", "v1")
