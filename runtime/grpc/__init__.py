"""The Open Inference Protocol over gRPC (the `grpc` extra), an adapter on the data plane."""
