"""`tabship serve --workers N`: a supervisor process and N serving worker processes that share
the listening ports (supervisor.py, worker.py), the verified model handed over once (handoff.py),
per-server limits counted across workers (shared.py), `auto` sized to the CPUs (cpus.py)."""
