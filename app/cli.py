"""The ``medreward`` command line: ``medreward serve`` starts the service, ``medreward train`` runs the reference
GRPO trainer (needs the ``train`` extra), ``medreward bench`` runs benchmarks."""

from __future__ import annotations

import argparse
import importlib
import ipaddress
import logging
import logging.config
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.auth import KeyFileError, parse_keys
from app.logging import log_config
from app.settings import Settings, get_settings

log = logging.getLogger("app.cli")

LOOPBACK = "127.0.0.1"


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 and ::1 are loopback.

    >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0"), is_loopback("localhost")
    (True, False, True)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_host(host: str, settings: Settings, has_keys: bool) -> str:
    """The host to bind: with no API keys only loopback, unless MEDREWARD_ALLOW_OPEN is set."""
    if has_keys or is_loopback(host):
        return host
    if settings.allow_open:
        log.warning("no API keys and MEDREWARD_ALLOW_OPEN=true: serving OPEN on %s", host)
        return host
    log.warning(
        "no API keys configured: refusing to bind %s, binding %s instead "
        "(set MEDREWARD_API_KEYS or MEDREWARD_API_KEYS_FILE to serve other hosts)",
        host,
        LOOPBACK,
    )
    return LOOPBACK


def serve(args: argparse.Namespace) -> int:
    # Command-line values reach the app (and every worker process) through the environment.
    overrides = {
        "MEDREWARD_STORE_URL": args.store_url,
        "MEDREWARD_PROFILES_FILE": args.profiles_file,
        "MEDREWARD_API_KEYS_FILE": args.api_keys_file,
        "MEDREWARD_LOG_LEVEL": args.log_level,
    }
    for name, value in overrides.items():
        if value is not None:
            os.environ[name] = str(value)
    get_settings.cache_clear()
    settings = get_settings()
    logging.config.dictConfig(log_config(settings.log_level))
    try:
        keys = parse_keys(settings.api_keys, settings.api_keys_file)
    except (KeyFileError, OSError) as exc:
        log.error("cannot read API keys: %s", exc)
        return 2
    if not keys:
        log.warning("no API keys configured: the service is OPEN (no authentication)")
    host = bind_host(args.host or settings.host, settings, bool(keys))
    workers = args.workers or settings.workers
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several worker processes: /metrics must sum them, through prometheus' multiprocess files.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="medreward-metrics-")
    import uvicorn

    # uvicorn handles SIGTERM itself (stops accepting, finishes in-flight requests, runs the
    # lifespan shutdown) and then re-raises it; this handler makes that final re-raise a clean exit.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        "app.main:app",
        host=host,
        port=args.port or settings.port,
        workers=workers,
        log_config=log_config(settings.log_level),
        access_log=False,  # app.access logs each request as JSON, without query strings
        timeout_graceful_shutdown=settings.graceful_timeout_s,
        server_header=False,
        http=_http_protocol(),
        **_worker_healthcheck(),
    )
    return 0


def _http_protocol() -> Any:
    """uvicorn's httptools protocol, each response written in one system call
    (`app.http_protocol`); without httptools, uvicorn's own choice."""
    try:
        from app.http_protocol import HttpProtocol
    except ImportError:
        return "auto"
    return HttpProtocol


def _worker_healthcheck() -> dict[str, Any]:
    """uvicorn ≥ 0.30 kills a worker that does not answer its supervisor's ping within 5 s, startup
    included: on a busy machine importing the scorers took longer, so workers were killed and
    respawned at start (seen with 2 workers on 2 shared cores). A minute covers a slow start."""
    import inspect

    import uvicorn

    return (
        {"timeout_worker_healthcheck": 60}
        if "timeout_worker_healthcheck" in inspect.signature(uvicorn.run).parameters
        else {}
    )


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def bench_dir() -> Path | None:
    """``bench/`` of a source checkout: the working directory's, else next to the package."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[1]):
        if (root / "bench" / "report.py").is_file():
            return root / "bench"
    return None


def bench(args: argparse.Namespace) -> int:
    where = bench_dir()
    if where is None:
        print("medreward bench: no bench/ directory here; run it from a source checkout", file=sys.stderr)
        return 2
    available = sorted(p.stem.removeprefix("bench_") for p in where.glob("bench_*.py"))
    names = args.names or available
    unknown = [n for n in names if n not in available]
    if unknown:
        print(f"medreward bench: unknown {', '.join(unknown)}; available: {', '.join(available)}", file=sys.stderr)
        return 2
    root = str(where.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    for name in names:
        print(f"== bench {name}")
        importlib.import_module(f"bench.bench_{name}").main([])
    return 0


def train(argv: Sequence[str]) -> int:
    # Imported here: the trainer needs torch, which the service does not.
    try:
        from trainer.cli import main as train_main
    except ImportError as exc:
        print(f"medreward train: {exc}; install the trainer with pip install -e '.[train]'", file=sys.stderr)
        return 2
    return train_main(argv)


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medreward", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    srv = sub.add_parser("serve", help="start the reward service (uvicorn)")
    srv.add_argument("--host", default=None, help=f"interface (default {settings.host}; loopback without keys)")
    srv.add_argument("--port", type=int, default=None, help=f"port (default {settings.port})")
    srv.add_argument("--workers", type=int, default=None, help=f"worker processes (default {settings.workers})")
    srv.add_argument("--store-url", default=None, help=f"run store (default {settings.store_url})")
    srv.add_argument("--profiles-file", default=None, help="YAML profiles loaded at start")
    srv.add_argument("--api-keys-file", default=None, help="file of key:tenant lines")
    srv.add_argument("--log-level", default=None, help=f"log level (default {settings.log_level})")
    srv.set_defaults(func=serve)
    trn = sub.add_parser(
        "train",
        help="GRPO fine-tuning through the service (medreward train --help for its options)",
        add_help=False,  # --help goes to the trainer's own parser
    )
    trn.set_defaults(func=lambda args: train([]))  # main() hands `train ...` over before parsing
    bch = sub.add_parser("bench", help="run benchmarks from a source checkout (bench/bench_<name>.py)")
    bch.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    bch.set_defaults(func=bench)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:  # every later argument, --help included, belongs to the trainer's parser
        raise SystemExit(train(argv[1:]))
    args = build_parser(get_settings()).parse_args(argv)
    raise SystemExit(args.func(args))


if __name__ == "__main__":
    main()
