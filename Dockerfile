# The tabship scoring server: onnxruntime + numpy + starlette + uvicorn, nothing from training.
# No model is baked in: MODEL_URI (a path mounted into the container, or an http(s) URL such as a
# presigned object-store URL) is read at start. Build: docker build -t tabship-serve .
# Run:   docker run -p 8000:8000 -e MODEL_URI=https://.../model-version/ tabship-serve
# For s3:// model URIs add the s3 extra: docker build --build-arg ROLE=s3 -t tabship-serve .
# To require signed versions (TABSHIP_TRUSTED_KEYS): docker build --build-arg ROLE=sign ...
# For OIP over gRPC (--grpc-port): --build-arg ROLE=grpc.
FROM python:3.11-slim AS build
ARG ROLE=serve
WORKDIR /src
COPY pyproject.toml README.md ./
COPY locks/serve.txt locks/grpc.txt locks/s3.txt locks/sign.txt locks/
COPY scripts/serve_install.sh scripts/serve_install.sh
# tabship/ is the one import name; its links to training/, export/ and parity_tests/ dangle here
# (those folders stay out of the context, and tabship/release/ too), so the wheel built here
# holds only the serving code (tests/runtime/test_clean_env.py installs from this very context)
COPY tabship tabship
COPY runtime runtime
# the same install step the clean-environment test runs
RUN scripts/serve_install.sh install /opt/tabship "$ROLE"

FROM python:3.11-slim
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin tabship
COPY --from=build /opt/tabship /opt/tabship
COPY scripts/serve_install.sh /usr/local/bin/serve_install.sh
ENV PATH="/opt/tabship/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TABSHIP_HOST=0.0.0.0 \
    TABSHIP_PORT=8000
USER tabship
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('TABSHIP_HEALTH_PORT') or os.environ.get('TABSHIP_PORT', '8000')}/healthz\", timeout=2).status == 200 else 1)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["serve_install.sh", "start", "/opt/tabship"]
