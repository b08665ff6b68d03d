"""Import from `docker run`: 49 command lines from public READMEs (tests/data/docker_run, each with
its source) against the expected component and report; every option of any command line appears in
the report (a property test over docker's flag table); the page fills the New component form and
creates nothing."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from services.components.imports import docker_run
from tests.components.test_create_and_deploy import component_id_of
from tests.helpers import field_error

DATA = Path(__file__).resolve().parents[1] / "data" / "docker_run"
COMMANDS = yaml.safe_load((DATA / "commands.yaml").read_text())
EXPECTED = yaml.safe_load((DATA / "expected.yaml").read_text())


def described(plan: docker_run.Plan, source: str) -> dict:
    """The plan in expected.yaml's words."""
    e = {"source": source, "name": plan.name, "image": plan.image}
    if plan.command is not None:
        e["command"] = plan.command
    if plan.args is not None:
        e["args"] = plan.args
    if plan.env:
        e["env"] = [f"{k}={v}" for k, v in plan.env]
    if plan.ports:
        e["ports"] = [f"{p.port}/{p.protocol}" + (f" host {p.host_port}" if p.host_port else "")
                      + ("" if p.expose else " not exposed") for p in plan.ports]
    if plan.volumes:
        e["volumes"] = [f"{v.name}:{v.path}" + (":ro" if v.read_only else "") for v in plan.volumes]
    if plan.memory_mb:
        e["memory_mb"] = plan.memory_mb
    if plan.cpu_millicores:
        e["cpu_millicores"] = plan.cpu_millicores
    if plan.health:
        h = plan.health
        e["health"] = (f"{h.kind} :{h.port}{h.path} every {h.period}s after {h.initial_delay}s, "
                       f"{h.failure_threshold} failures")
    e["report"] = [f"{o.fate}: {o.flag}" for o in plan.report]
    return e


def test_the_corpus_has_forty_real_command_lines_with_sources():
    assert len(COMMANDS) == len(EXPECTED) >= 40
    assert all(c["source"].startswith("https://") for c in COMMANDS)


@pytest.mark.parametrize(("case", "expected"), list(zip(COMMANDS, EXPECTED, strict=True)),
                         ids=[f"{i}-{e['name']}" for i, e in enumerate(EXPECTED)])
def test_a_readme_command_becomes_the_expected_component_and_report(case, expected):
    assert described(docker_run.parse(case["command"]), case["source"]) == expected


def options_of(line: str) -> list[str]:
    """The options a command line gives (each as written, before the image), read independently of
    the parser: long ones by name, short ones letter by letter."""
    argv = docker_run.words(line)
    argv = argv[argv.index("run") + 1:]
    found, i = [], 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "--":
        word = argv[i]
        if word.startswith("--"):
            name = word[2:].split("=", 1)[0]
            found.append(f"--{name}")
            if "=" not in word and name in docker_run.VALUE_FLAGS:
                i += 1
        else:
            for j, letter in enumerate(word[1:]):
                found.append(f"-{letter}")
                if docker_run.SHORT.get(letter) in docker_run.VALUE_FLAGS:
                    if j == len(word) - 2:
                        i += 1
                    break
        i += 1
    return found


VALUES = {"publish": ["8080:80", "127.0.0.1:53:53/udp", "9000-9001:9000-9001", "80", "bad:port:x:y"],
          "volume": ["data:/data", "/srv:/srv:ro", "/anonymous", "Name_1:/x"],
          "mount": ["type=volume,src=v,dst=/v", "type=bind,src=/a,dst=/b", "type=tmpfs,dst=/t"],
          "env": ["A=1", "B", "bad.name=2"], "memory": ["512m", "1g", "lots"], "cpus": ["0.5", "x"],
          "health-cmd": ["curl -f http://localhost:8080/", "pg_isready"], "restart": ["always", "no"]}
flag_names = sorted(docker_run.VALUE_FLAGS | docker_run.BOOL_FLAGS | {"made-up-flag"})


@st.composite
def command_lines(draw):
    words = ["docker", "run"]
    for name in draw(st.lists(st.sampled_from(flag_names), max_size=12)):
        short = next((s for s, long in docker_run.SHORT.items() if long == name), None)
        written = f"-{short}" if short and draw(st.booleans()) else f"--{name}"
        if name in docker_run.VALUE_FLAGS:
            value = draw(st.sampled_from(VALUES.get(name, ["x", "1", "host"])))
            words += [f"{written}={value}"] if written.startswith("--") and draw(st.booleans()) else [written, value]
        else:
            words.append(written)
    words.append(draw(st.sampled_from(["nginx", "ghcr.io/org/app:1.2", "registry.example.com:5000/a/b@sha256:"
                                       + "a" * 64])))
    words += draw(st.lists(st.sampled_from(["serve", "--port", "8080", "-v"]), max_size=3))
    return shlex.join(words)


@settings(max_examples=300, deadline=None)
@given(command_lines())
def test_every_option_of_a_command_appears_in_the_report(line):
    plan = docker_run.parse(line)
    written = " ".join(o.flag for o in plan.report)
    for option in options_of(line):
        assert option in written, (option, line, [o.flag for o in plan.report])
    assert all(o.fate in ("mapped", "changed", "dropped") and o.detail for o in plan.report)


@pytest.mark.parametrize(("line", "words"), [
    ("docker run", "names no image"),
    ("docker run -p", "-p needs a value"),
    ("docker ps -a", "not a `docker run` command"),
    ("kubectl run x --image=nginx", "Paste a command starting with `docker run`"),
    ("docker run -e 'unclosed nginx", "cannot be split"),
])
def test_a_command_that_cannot_be_read_says_why(line, words):
    with pytest.raises(docker_run.CommandError, match=words):
        docker_run.parse(line)


def test_the_import_page_fills_the_form_and_creates_nothing(client, app, auth):
    auth.signed_in()
    line = COMMANDS[11]["command"]  # portainer: ports, a socket bind mount, a named volume
    r = client.post("/components/import", data={"command": line})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'data-testid="import-report"' in html
    assert 'data-fate="dropped"><td class="mono">-v /var/run/docker.sock:/var/run/docker.sock' in html
    assert 'value="portainer/portainer-ce:lts"' in html and 'value="portainer-data"' in html
    assert re.search(r'<input[^>]*name="ports-1-host_port"[^>]*value="9443"', html)
    assert component_id_of(app, "portainer") is None
    r = client.post("/components/import", data={"command": "docker run -p"})
    assert r.status_code == 422 and "-p needs a value" in field_error(r.get_data(as_text=True), "command")
    r = client.post("/components/import", data={"command": "docker run --env-file prod.env nginx",
                                                 "env_file": "# comment\nA=1\nB=two words\n"})
    html = r.get_data(as_text=True)
    assert 'value="A"' in html and 'value="two words"' in html
