# Träffpunkt application image: web nodes, media nodes and the migration job all run it
# (docker-compose.yml picks the role with the command line).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# ffmpeg: HLS packaging and publication for Play. aiortc and PyAV install as binary wheels.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 traffpunkt \
    && useradd --system --uid 10001 --gid traffpunkt --home-dir /app --no-create-home traffpunkt

WORKDIR /app

# Dependencies and the package first, so editing templates or static files keeps this layer.
# README.md* : the glob keeps the build working while the README does not exist yet.
COPY pyproject.toml README.md* ./
COPY server ./server
COPY rooms ./rooms
COPY streaming ./streaming
RUN pip install .

COPY templates ./templates
COPY static ./static

# server/app.py finds templates/ and static/ next to the `server` package (they are not package
# data), so the source tree in /app must be the `server` that gets imported, not the copy in
# site-packages.
ENV PYTHONPATH=/app \
    TRAFFPUNKT_ENV=production \
    MEDIA_ROOT=/var/lib/traffpunkt/media

# The media root is a volume shared with nginx; ./var holds development leftovers only.
RUN mkdir -p /var/lib/traffpunkt/media /app/var \
    && chown -R traffpunkt:traffpunkt /var/lib/traffpunkt /app/var

USER traffpunkt
EXPOSE 8000

CMD ["traffpunkt", "serve", "--host", "0.0.0.0", "--port", "8000"]
