"""Delivery: the webhook intake (hooks) and replaying stored deliveries (replay)."""
