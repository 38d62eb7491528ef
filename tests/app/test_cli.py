"""``medreward serve`` binds loopback without keys; ``medreward bench`` needs a source checkout."""

from __future__ import annotations

import pytest

from app.cli import bind_host, build_parser, is_loopback
from app.settings import Settings


@pytest.mark.parametrize(
    ("host", "has_keys", "allow_open", "expected"),
    [
        ("0.0.0.0", False, False, "127.0.0.1"),
        ("0.0.0.0", True, False, "0.0.0.0"),
        ("0.0.0.0", False, True, "0.0.0.0"),
        ("::1", False, False, "::1"),
        ("localhost", False, False, "localhost"),
    ],
    ids=["open + all interfaces -> loopback", "keys: as asked", "explicitly allowed open", "ipv6 loopback", "name"],
)
def test_bind_host(host: str, has_keys: bool, allow_open: bool, expected: str) -> None:
    assert bind_host(host, Settings(allow_open=allow_open), has_keys) == expected


@pytest.mark.parametrize(("host", "loop"), [("127.0.0.2", True), ("10.0.0.1", False), ("example.org", False)])
def test_is_loopback(host: str, loop: bool) -> None:
    assert is_loopback(host) is loop


def test_serve_options_parse() -> None:
    args = build_parser(Settings()).parse_args(
        ["serve", "--port", "9001", "--workers", "2", "--store-url", "memory://", "--profiles-file", "p.yaml"]
    )
    assert (args.port, args.workers, args.store_url, args.profiles_file) == (9001, 2, "memory://", "p.yaml")


def test_bench_without_checkout(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import app.cli as cli

    monkeypatch.setattr(cli, "bench_dir", lambda: None)
    args = build_parser(Settings()).parse_args(["bench", "service"])
    assert args.func(args) == 2
    assert "source checkout" in capsys.readouterr().err


def test_bench_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser(Settings()).parse_args(["bench", "no-such-bench"])
    assert args.func(args) == 2
    assert "available" in capsys.readouterr().err
