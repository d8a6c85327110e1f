"""A model from MODEL_URI to a warmed-up session: resolving and downloading the bytes, checking
the ONNX file, manifest, hash and signature (artifact), the one onnxruntime session (session),
and the request validation derived from the manifest's inputs (schema)."""
