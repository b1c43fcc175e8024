# The prediction service: CPU-only torch, the committed models/, uvicorn on 0.0.0.0:${PORT:-8000}.
#
#   DOCKER_BUILDKIT=1 docker build -t digit-service .
#   docker run -p 8000:8000 digit-service
#
# torch comes from PyTorch's CPU wheel index (TORCH_INDEX). Offline, give the build the wheel instead:
# put it in an image (`docker build -t torch-wheels -f- /opt/wheels <<<$'FROM scratch\nCOPY *.whl /'`)
# and pass `--build-arg WHEELS=torch-wheels`. With buildx, `--build-context wheels=/opt/wheels` should
# do the same (untried: this machine's client has no buildx). Any base with Python 3.11 and the venv module works (BASE=localbase:bookworm here).

ARG BASE=python:3.11-slim
ARG WHEELS=no-wheels

FROM scratch AS no-wheels

# The torch wheel(s) to install from; empty unless WHEELS (or a named context `wheels`) provides them.
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

# Source and weights with permissions made readable for the unprivileged user: artifacts are written
# through mkstemp, which leaves them 0600.
FROM ${BASE} AS source
WORKDIR /srv/digits
COPY app/ app/
COPY training/ training/
COPY models/ models/
RUN chmod -R u=rwX,go=rX /srv/digits

FROM ${BASE} AS runtime
ARG TORCH_VERSION=2.13.0+cpu
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# A venv rather than the base's site-packages: Debian's python3 refuses pip installs there (PEP 668).
RUN python3 -m venv /opt/venv

# Alone in its own layer, before anything from the source tree, so that only a new TORCH_VERSION
# downloads torch again. --no-deps: its small dependencies come from PyPI with the pins below.
# DL3013 mistakes the "$@" (where torch comes from) for an unpinned package; torch itself is pinned.
# hadolint ignore=DL3013
RUN --mount=type=bind,from=wheels,target=/wheels \
    --mount=type=cache,target=/root/.cache/pip \
    if ls /wheels/torch-*.whl >/dev/null 2>&1; then set -- --no-index --find-links /wheels; \
    else set -- --index-url "${TORCH_INDEX}"; fi \
    && pip install --no-deps "$@" "torch==${TORCH_VERSION}"

COPY --from=requirements /req/requirements.txt /req/image-constraints.txt /tmp/req/
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install -r /tmp/req/requirements.txt -c /tmp/req/image-constraints.txt \
    && pip check \
    && rm -rf /tmp/req

# The source tree stays root-owned and read-only to the service; state/ is its one writable place.
RUN useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin digits \
    && install -d -o digits -g digits /srv/digits/state
COPY --from=source /srv/digits /srv/digits
WORKDIR /srv/digits
USER 10001:10001

# DIGITS_WORKERS=2 (`docker run -e DIGITS_WORKERS=2`) runs two server processes: see README, "Several workers".
ENV PORT=8000 \
    DIGITS_HOST=0.0.0.0
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health\", timeout=4)"]
# sh only to pass PORT on; exec makes the server (uvicorn, or its supervisor with several workers) PID 1,
# so that `docker stop` reaches it.
CMD ["sh", "-c", "DIGITS_PORT=\"${PORT:-8000}\" exec python -m app"]
