"""Generated gRPC stubs of the Open Inference Protocol (see README.md beside this file)."""
