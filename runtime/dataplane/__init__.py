"""The transport-free data plane: every operation the server offers (plane), the serving core
under it (service: admission, limits, parsing, validation, scoring), micro-batching, the
offload thread, Open Inference Protocol inference, errors, JSON and metrics. No HTTP or gRPC."""
