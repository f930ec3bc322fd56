"""Configuration: a TOML file (tomllib) into frozen dataclasses, validated once, unknown keys
rejected. Every key has an embedded default, so eir runs with no file at all.

Each key is declared once in `eir.config.keys` (type, default, range, doc); that declaration
drives parsing (`eir.config.load`), ``eir check-config``, ``conf/eir.toml`` and
``docs/configuration.md`` (`eir.config.render`). Errors read ``FILE: section.key: reason``.

Layer 0: standard library only.
"""

from eir.config.endpoints import (
    TRANSPORTS,
    Broker,
    Endpoint,
    parse_broker,
    parse_endpoint,
    parse_metrics_listen,
)
from eir.config.keys import (
    ANOMALY_ACTIONS,
    CHECK_DIGIT_POLICIES,
    CHECK_EVENTS,
    LOG_FORMATS,
    LOG_LEVELS,
    NODE_RE,
    PASSWORD_ENV,
    PREFIX_RE,
    SECTIONS,
    UNKNOWN_ANSWERS,
    USERNAME_ENV,
    Config,
    DiameterConfig,
    DiameterPeerConfig,
    DistributionConfig,
    EventsConfig,
    ListsConfig,
    LogConfig,
    M3uaAspConfig,
    M3uaConfig,
    MetricsConfig,
    MqttConfig,
    PolicyConfig,
    ServiceConfig,
    StoreConfig,
)
from eir.config.load import load_config, parse_config
from eir.config.render import documented_toml, markdown, to_toml

__all__ = [
    "ANOMALY_ACTIONS",
    "CHECK_DIGIT_POLICIES",
    "CHECK_EVENTS",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "NODE_RE",
    "PASSWORD_ENV",
    "PREFIX_RE",
    "SECTIONS",
    "TRANSPORTS",
    "UNKNOWN_ANSWERS",
    "USERNAME_ENV",
    "Broker",
    "Config",
    "DiameterConfig",
    "DiameterPeerConfig",
    "DistributionConfig",
    "Endpoint",
    "EventsConfig",
    "ListsConfig",
    "LogConfig",
    "M3uaAspConfig",
    "M3uaConfig",
    "MetricsConfig",
    "MqttConfig",
    "PolicyConfig",
    "ServiceConfig",
    "StoreConfig",
    "documented_toml",
    "load_config",
    "markdown",
    "parse_broker",
    "parse_config",
    "parse_endpoint",
    "parse_metrics_listen",
    "to_toml",
]
