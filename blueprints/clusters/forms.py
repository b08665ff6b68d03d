"""The form of the Kubernetes clusters pages."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, TextAreaField


class ClusterForm(FlaskForm):
    name = StringField("Name", description="How your team refers to this cluster, e.g. production-eu")
    kubeconfig = TextAreaField("Kubeconfig (optional)", description=(
        "Paste a kubeconfig instead of the three fields below: its current context's server, CA and token "
        "are used (kubectl config view --raw --flatten --minify). Stored only as those three."))
    server = StringField("API server", description="e.g. https://203.0.113.10:6443")
    ca_pem = TextAreaField("CA certificate (PEM)", description=(
        "The CA that signed the API server's certificate; empty: the system's CAs"))
    token = PasswordField("ServiceAccount token", description=(
        "Give Berth's ServiceAccount the ClusterRole of deploy/kubernetes/berth.yaml, then: "
        "kubectl create token berth -n berth-system --duration=8760h"))
