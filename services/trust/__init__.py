"""Trust: which images a team deploys. Public keys, signature policies and the one gate every
release passes (services.trust.gate); cosign's signature format read and verified offline
(services.trust.cosign, pure)."""
