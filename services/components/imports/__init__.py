"""Components from what people already run: a `docker run` line, a compose file."""
