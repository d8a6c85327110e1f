"""The release path: train -> export -> gate -> publish (`tabship train`)."""
