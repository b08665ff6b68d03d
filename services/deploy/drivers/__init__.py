"""Deploying components: manifests and deployers (Kubernetes, podman). No Flask, no database."""
