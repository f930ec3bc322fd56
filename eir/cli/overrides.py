"""Command-line options that override configuration keys: ``--broker``, ``--prefix`` and
``--node`` over ``[mqtt]``; ``--diameter-listen``, ``--m3ua-listen``, ``--workers`` and
``--metrics-listen`` over the keys `eir serve` reads; ``--log-level`` and ``--log-format`` over
``[log]``. A bad value is a `ConfigError` naming
the option, checked with the configuration's own parsers and patterns."""

from __future__ import annotations

import argparse
import dataclasses

from eir.config import (
    NODE_RE,
    PREFIX_RE,
    Config,
    Endpoint,
    MetricsConfig,
    parse_broker,
    parse_endpoint,
    parse_metrics_listen,
)
from eir.errors import ConfigError


def mqtt_overrides(args: argparse.Namespace, config: Config) -> Config:
    mqtt = config.mqtt
    try:
        if args.broker is not None:
            mqtt = dataclasses.replace(
                mqtt, broker=parse_broker(args.broker) if args.broker else None
            )
    except ValueError as exc:
        raise ConfigError(f"--broker: {exc}") from None
    if args.prefix is not None:
        if not PREFIX_RE.fullmatch(args.prefix):
            raise ConfigError(f"--prefix: {args.prefix!r} is not a topic prefix")
        mqtt = dataclasses.replace(mqtt, prefix=args.prefix)
    if getattr(args, "node", None) is not None:
        if not NODE_RE.fullmatch(args.node):
            raise ConfigError(f"--node: {args.node!r} is not 1 to 64 of letters, digits, ._-")
        mqtt = dataclasses.replace(mqtt, node=args.node)
    return dataclasses.replace(config, mqtt=mqtt)


def log_overrides(args: argparse.Namespace, config: Config) -> Config:
    """``--log-level`` and ``--log-format`` over ``[log]`` (argparse checked their words)."""
    log = config.log
    if args.log_level is not None:
        log = dataclasses.replace(log, level=args.log_level)
    if args.log_format is not None:
        log = dataclasses.replace(log, format=args.log_format)
    return dataclasses.replace(config, log=log)


def serve_overrides(args: argparse.Namespace, config: Config) -> Config:
    diameter = config.diameter
    if args.diameter_listen:
        diameter = dataclasses.replace(
            diameter, listen=_endpoints(args.diameter_listen, 3868, "--diameter-listen")
        )
    m3ua = config.m3ua
    if args.m3ua_listen:
        m3ua = dataclasses.replace(m3ua, listen=_endpoints(args.m3ua_listen, 2905, "--m3ua-listen"))
    service = config.service
    if args.workers is not None:
        if not 1 <= args.workers <= 256:
            raise ConfigError("--workers: must be 1 to 256")
        service = dataclasses.replace(service, workers=args.workers)
    metrics = config.metrics
    if args.metrics_listen is not None:
        try:
            metrics = MetricsConfig(listen=parse_metrics_listen(args.metrics_listen))
        except ValueError as exc:
            raise ConfigError(f"--metrics-listen: {exc}") from None
    config = mqtt_overrides(args, config)
    return dataclasses.replace(
        config, diameter=diameter, service=service, m3ua=m3ua, metrics=metrics
    )


def _endpoints(values: list[str], default_port: int, option: str) -> tuple[Endpoint, ...]:
    try:
        return tuple(parse_endpoint(text, default_port) for text in values)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None
