"""HTTP: the Starlette app, tabship API v1 and the Open Inference Protocol over REST as adapters
on the data plane, request bodies, the OpenAPI document and the HTTP/1.1 protocol guards."""
