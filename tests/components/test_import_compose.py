"""Compose files read as the import reads them: the model agrees with Debian's docker-compose
`config` on a corpus (tests/data/compose: interpolation from a pasted .env, anchors and merge keys,
extends, profiles); profiles choose services; hostile files get a message, never a hang."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from services.components.imports import compose

DATA = Path(__file__).resolve().parents[1] / "data" / "compose"
AGREEING = ["interpolation", "anchors", "profiles", "extends"]
KEYS = ("image", "environment", "ports", "volumes", "command", "entrypoint", "depends_on", "healthcheck", "deploy",
        "profiles", "restart", "expose", "logging")


def _ports(ports) -> set:
    out = set()
    for p in ports or []:
        if isinstance(p, dict):
            out.add((str(p.get("published") or ""), str(p["target"]), p.get("protocol", "tcp")))
        else:
            spec, _, proto = str(p).partition("/")
            parts = spec.split(":")
            out.add((parts[-2] if len(parts) > 1 else "", parts[-1], proto or "tcp"))
    return out


def _volumes(volumes) -> set:
    out = set()
    for v in volumes or []:
        if isinstance(v, dict):
            out.add((v.get("source"), v["target"], bool(v.get("read_only"))))
        else:
            parts = str(v).split(":")
            out.add((parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
    return out


def canonical(model: dict) -> dict:
    """The services of a model in one form, whichever syntax wrote them."""
    out = {}
    for name, service in model["services"].items():
        s = {k: v for k, v in service.items() if k in KEYS}
        if "environment" in s:
            env = s["environment"]
            s["environment"] = {str(k): (None if v is None else str(v)) for k, v in (
                compose._as_mapping("environment", env).items())}
        if "depends_on" in s:
            s["depends_on"] = compose._as_mapping("depends_on", s["depends_on"])
        s["ports"], s["volumes"] = _ports(s.get("ports")), _volumes(s.get("volumes"))
        out[name] = s
    return out


def docker_compose_config(name: str, profiles: list[str]) -> dict:
    env = DATA / f"{name}.env"
    args = ["docker-compose", "-f", str(DATA / f"{name}.yaml"), "--project-directory", str(DATA)]
    if env.exists():
        args += ["--env-file", str(env)]
    for p in profiles:
        args += ["--profile", p]
    result = subprocess.run(args + ["config"], capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    return _unescape(yaml.safe_load(result.stdout))


def _unescape(value):
    """`config` prints a literal $ as $$ (its output is a compose file again); the model holds the $."""
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, list):
        return [_unescape(v) for v in value]
    if isinstance(value, dict):
        return {k: _unescape(v) for k, v in value.items()}
    return value


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="make test installs Debian's docker-compose")
@pytest.mark.parametrize("name", AGREEING)
def test_the_model_agrees_with_docker_compose_config(name):
    text = (DATA / f"{name}.yaml").read_text()
    env = DATA / f"{name}.env"
    services = yaml.safe_load(text)["services"]
    every_profile = sorted({p for s in services.values() for p in s.get("profiles", [])})
    ours = compose.load(text, env.read_text() if env.exists() else "", every_profile)
    theirs = docker_compose_config(name, every_profile)
    assert canonical(ours) == canonical(theirs)


def test_profiles_choose_the_services():
    text = (DATA / "profiles.yaml").read_text()
    assert set(compose.load(text)["services"]) == {"frontend"}
    assert set(compose.load(text, profiles=["debug"])["services"]) == {"frontend", "phpmyadmin", "db"}
    assert set(compose.load(text, profiles=["backend"])["services"]) == {"frontend", "db", "backend"}


def test_interpolation_forms():
    env = {"A": "1", "EMPTY": ""}
    assert compose.interpolate("${A} $A ${A:-x} ${B:-x} ${EMPTY:-x} ${EMPTY-x} ${A:+y} ${B:+y} $$A", env, "k") \
        == "1 1 1 x x  y  $A"
    assert compose.interpolate("${B:-${A}0}", env, "k") == "10"
    with pytest.raises(compose.ComposeError, match="k: B is required: set B first"):
        compose.interpolate("${B:?set B first}", env, "k")
    with pytest.raises(compose.ComposeError, match="services.api.image: TAG is required"):
        compose.load("services:\n  api:\n    image: app:${TAG?}\n")


def test_extends_merges_as_the_spec_says():
    model = compose.load((DATA / "extends.yaml").read_text())
    web = model["services"]["web"]
    assert web["environment"] == {"TZ": "UTC", "MODE": "web"}
    assert web["ports"] == ["9000:9000", "9001:9001"] and web["volumes"] == ["shared:/data"]
    assert web["image"] == "busybox:1.36" and "extends" not in web


BOMB = ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8))
    + "services: {x: {image: busybox}}\n")


@pytest.mark.parametrize(("text", "words"), [
    (BOMB, "expands to more than 100,000 values"),
    ("services:\n  x:\n    image: a\n" + "#" * (10 * 1024 * 1024), "at most 1,048,576"),
    ("services:\n  a: {extends: b, image: x}\n  b: {extends: a, image: y}\n", "a cycle (a → b → a)"),
    ("services:\n  a: {extends: {service: c}, image: x}\n", "no service 'c'"),
    ("services:\n  a: {extends: {service: b, file: other.yaml}}\n  b: {image: x}\n", "another file"),
    ("services: [a, b]\n", "has no services"),
    ("services:\n  a: [1]\n", "services.a is not a mapping"),
    ("services:\n  a: {image: x\n", "not valid YAML (line"),
    ("- just\n- a list\n", "a mapping with a 'services' key"),
    ("a: &a [*a]\nservices: {x: {image: y}}\n", "an anchor that contains itself"),
])
def test_hostile_or_broken_files_get_a_message(text, words):
    with pytest.raises(compose.ComposeError) as e:
        compose.load(text)
    assert words in e.value.message
