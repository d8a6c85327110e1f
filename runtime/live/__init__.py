"""Live evidence beside the served model: shadow scoring, request capture, drift per column."""
