# The prediction service: ONNX Runtime for predictions, CPU-only torch for training jobs, the committed models/, uvicorn on 0.0.0.0:${PORT:-8000}.
#
# Plain Dockerfile syntax (no RUN --mount), so the classic builder and BuildKit both build it:
#   online, Docker with BuildKit/buildx and a bridge network:
#     docker build -t digit-service .
#     docker run -p 8000:8000 -v "$PWD/state:/srv/digits/state" digit-service
#   an engine without buildx or a bridge network (this project's ../shared/docker/engine.sh):
#     docker build --network host --build-arg BASE=localbase:bookworm --build-arg WHEELS=torch-wheels -t digit-service .
#     docker run --network host -e PORT=8000 -v "$PWD/state:/srv/digits/state" digit-service
#
# torch comes from PyTorch's CPU wheel index (TORCH_INDEX). Offline, give the build the wheel instead,
# in an image that holds it under /wheels/:
#   docker build -t torch-wheels -f- /opt/wheels <<<$'FROM scratch\nCOPY torch-*.whl /wheels/'
# and pass `--build-arg WHEELS=torch-wheels`. Any base with Python 3.11 and the venv module works.
#
# The server runs as uid/gid 10001. It starts as root only to make the state directory (a volume or a
# bind mount, possibly root-owned) its own, then drops to 10001 (docker/entrypoint.py). With
# `--user UID:GID` it runs as that user from the start and needs a state directory it can write.

ARG BASE=python:3.11-slim
ARG WHEELS=no-wheels

FROM ${BASE} AS no-wheels
RUN mkdir /wheels

# The torch wheel(s) to install from, under /wheels/; empty unless WHEELS names an image holding them.
FROM ${WHEELS} AS wheels

# pyproject.toml is the one list of runtime dependencies; turn it into a requirements file here so
# that edits to other parts of it (tool settings) leave the install layer below cached.
FROM ${BASE} AS requirements
ARG TORCH_VERSION=2.13.0+cpu
WORKDIR /req
COPY pyproject.toml constraints.txt ./
# constraints.txt pins the dev environment's torch (CUDA-capable, newer) and torchvision; the image
# keeps every other pin and replaces those two with its CPU torch.
RUN python3 -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' \
        > requirements.txt \
    && grep -v -E '^(torch|torchvision)==' constraints.txt > image-constraints.txt \
    && echo "torch==${TORCH_VERSION}" >> image-constraints.txt

# The venv, built in a stage of its own so that the torch wheel (190 MB) never becomes a layer of the
# final image: only /opt/venv is copied out.
FROM ${BASE} AS venv
ARG TORCH_VERSION=2.13.0+cpu
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# A venv rather than the base's site-packages: Debian's python3 refuses pip installs there (PEP 668).
RUN python3 -m venv /opt/venv
# Alone in its own layer, before anything from the source tree, so that only a new TORCH_VERSION
# installs torch again. --no-deps: its small dependencies come from PyPI with the pins below.
COPY --from=wheels /wheels /wheels
# DL3013 mistakes the "$@" (where torch comes from) for an unpinned package; torch itself is pinned.
# hadolint ignore=DL3013
RUN if ls /wheels/torch-*.whl >/dev/null 2>&1; then set -- --no-index --find-links /wheels; \
    else set -- --index-url "${TORCH_INDEX}"; fi \
    && /opt/venv/bin/pip install --no-deps "$@" "torch==${TORCH_VERSION}"
COPY --from=requirements /req/requirements.txt /req/image-constraints.txt /tmp/req/
RUN /opt/venv/bin/pip install -r /tmp/req/requirements.txt -c /tmp/req/image-constraints.txt \
    && /opt/venv/bin/pip check

# Source and weights with permissions made readable for the unprivileged user: artifacts are written
# through mkstemp, which leaves them 0600.
FROM ${BASE} AS source
WORKDIR /srv/digits
COPY app/ app/
COPY training/ training/
COPY models/ models/
COPY docker/entrypoint.py /usr/local/bin/digits-entrypoint
RUN chmod -R u=rwX,go=rX /srv/digits && chmod 0755 /usr/local/bin/digits-entrypoint

FROM ${BASE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
COPY --from=venv /opt/venv /opt/venv

# The source tree stays root-owned and read-only to the service; state/ is its one writable place.
RUN useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin digits \
    && install -d -o digits -g digits /srv/digits/state
COPY --from=source /srv/digits /srv/digits
COPY --from=source /usr/local/bin/digits-entrypoint /usr/local/bin/digits-entrypoint
WORKDIR /srv/digits
VOLUME /srv/digits/state

# DIGITS_WORKERS=2 (`docker run -e DIGITS_WORKERS=2`) runs two server processes: see README, "Several workers".
ENV PORT=8000 \
    DIGITS_HOST=0.0.0.0 \
    DIGITS_STATE_DIR=/srv/digits/state
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health\", timeout=4)"]
# The entrypoint fixes the state directory's owner and drops root, then execs the command, so the
# server (uvicorn, or its supervisor with several workers) is PID 1 and `docker stop` reaches it.
ENTRYPOINT ["/opt/venv/bin/python", "/usr/local/bin/digits-entrypoint"]
CMD ["sh", "-c", "DIGITS_PORT=\"${PORT:-8000}\" exec python -m app"]
