"""Host ports are the machine's: components saved at the same instant, by one team or several, never
get the same one (podman publishes each on this machine), on SQLite and PostgreSQL alike."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from models import Team, db
from services.accounts import accounts
from services.components import components
from services.deploy.drivers.podman import PodmanDeployer
from services.deploy.drivers.spec import Port
from services.platform.jobs import unit_of_work

SAVES = 20


def test_concurrent_saves_asking_for_a_free_host_port_get_different_ports(app, tmp_path):
    # A podman deployer that never runs anything: only its host ports matter here (releases fail at once).
    app.extensions["berth"].deployer = PodmanDeployer(tmp_path, podman="/bin/false")
    with app.app_context():
        teams = [accounts.get_or_create_team(name).id for name in ("alpha", "beta")]
        db.session.commit()
    barrier = threading.Barrier(SAVES)

    def save(i: int) -> int:
        data = components.ComponentInput(name=f"c{i}", application="shop", registry_id=None,
                                         image=f"registry.example.com/app@sha256:{'a' * 64}", tag="",
                                         memory_mb=32, ports=[Port(8080, "TCP", True)])
        barrier.wait()  # holding no database connection (the pool has fewer than SAVES)
        with app.app_context():
            team = db.session.get(Team, teams[i % 2])
            with unit_of_work():
                component = components.create_component(team, data, "test")
                port = component.ports[0]["host_port"]
            db.session.remove()
            return port

    with ThreadPoolExecutor(SAVES) as pool:
        ports = list(pool.map(save, range(SAVES)))
    assert len(set(ports)) == SAVES, sorted(ports)
