"""Which deployer this process uses: BERTH_DEPLOYER=kubernetes|podman|auto|none."""
from __future__ import annotations

import logging
from pathlib import Path

from flask import current_app

from services.deploy import targets
from services.deploy.drivers.interface import Deployer
from services.deploy.drivers.podman import PodmanDeployer
from services.platform import runtime

log = logging.getLogger("berth.deploy")


def _select(mode: str, instance_path: str, config):
    if mode == "none":
        return None, "Deploying is disabled (BERTH_DEPLOYER=none)."
    if mode in ("kubernetes", "auto"):
        try:
            # Imported only when a cluster may be used: the kubernetes client is slow to import.
            from services.deploy.drivers.kubernetes import load_api_client  # noqa: PLC0415

            return targets.kubernetes_deployer(load_api_client(), config), ""
        except Exception as e:  # noqa: BLE001 - any config failure means "no cluster here"
            if mode == "kubernetes":
                return None, f"BERTH_DEPLOYER=kubernetes but no kubeconfig or in-cluster config loads: {e}"
    if mode in ("podman", "auto"):
        if PodmanDeployer.available():
            return PodmanDeployer(Path(instance_path) / "podman",
                                  publish_address=config["BERTH_PUBLISH_ADDRESS"],
                                  pod_prefix=config["BERTH_PODMAN_POD_PREFIX"]), ""
        if mode == "podman":
            return None, "BERTH_DEPLOYER=podman but podman is not installed."
    return None, "No Kubernetes cluster is configured and podman is not installed, so Berth cannot deploy."


def replicas_problem(replicas: int, deployer: Deployer | None) -> str | None:
    """Why this deployer cannot run that many replicas (podman runs one pod), or None."""
    if deployer is not None and deployer.max_replicas is not None and replicas > deployer.max_replicas:
        return ("This Berth deploys with podman, which runs one replica of a component "
                "(`podman kube play` starts one pod); use 1, or deploy to Kubernetes to scale.")
    return None


def get_deployer(component=None) -> Deployer | None:
    """The deployer of `component` (its team's cluster target when it has one), else the process's,
    or None (deploying disabled, with the reason in disabled_reason())."""
    if component is not None and component.target is not None:
        return targets.deployer_for(component.target)
    state = runtime.of()
    if not state.has_deployer:
        state.deployer, state.deployer_reason = _select(current_app.config["BERTH_DEPLOYER"],
                                                        current_app.instance_path, current_app.config)
        log.info("deployer: %s", state.deployer.name if state.deployer else f"none ({state.deployer_reason})")
    return state.deployer


def disabled_reason(component=None) -> str:
    return "" if get_deployer(component) is not None else runtime.of().deployer_reason
