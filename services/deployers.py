"""Which deployer this process uses: BERTH_DEPLOYER=kubernetes|podman|auto|none."""
from __future__ import annotations

import logging
from pathlib import Path

from flask import current_app

from services.deploy.podman import PodmanDeployer

log = logging.getLogger("berth.deploy")


def _select(mode: str, instance_path: str):
    if mode == "none":
        return None, "Deploying is disabled (BERTH_DEPLOYER=none)."
    if mode in ("kubernetes", "auto"):
        try:
            from services.deploy.kubernetes import KubernetesDeployer

            return KubernetesDeployer.from_environment(), ""
        except Exception as e:  # noqa: BLE001 - any config failure means "no cluster here"
            if mode == "kubernetes":
                return None, f"BERTH_DEPLOYER=kubernetes but no kubeconfig or in-cluster config loads: {e}"
    if mode in ("podman", "auto"):
        if PodmanDeployer.available():
            return PodmanDeployer(Path(instance_path) / "podman"), ""
        if mode == "podman":
            return None, "BERTH_DEPLOYER=podman but podman is not installed."
    return None, "No Kubernetes cluster is configured and podman is not installed, so Berth cannot deploy."


def get_deployer():
    """The process's deployer, or None (deploying disabled, with the reason in disabled_reason())."""
    app = current_app._get_current_object()
    if "berth_deployer" not in app.extensions:
        deployer, reason = _select(app.config["BERTH_DEPLOYER"], app.instance_path)
        app.extensions["berth_deployer"] = deployer
        app.extensions["berth_deployer_reason"] = reason
        log.info("deployer: %s", deployer.name if deployer else f"none ({reason})")
    return app.extensions["berth_deployer"]


def disabled_reason() -> str:
    return "" if get_deployer() is not None else current_app.extensions.get("berth_deployer_reason", "")
