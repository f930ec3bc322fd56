"""Every key of the configuration file, declared once: its section, name, type, default,
range and doc (`eir.config.schema.setting`). The code reads these frozen dataclasses; the
parser, ``eir check-config``, ``conf/eir.toml`` and ``docs/configuration.md`` all come from them.

Layer 0: standard library only.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import ClassVar

from eir.config.checks import InvalidValueError, is_ip_address, is_network
from eir.config.endpoints import Broker, Endpoint
from eir.config.kinds import (
    Boolean,
    BrokerKind,
    Choice,
    ChoiceTable,
    EndpointKind,
    HttpListen,
    Integer,
    ListOf,
    Number,
    Order,
    Text,
    Uint32,
)
from eir.config.schema import TableRows, section, setting
from eir.errors import ConfigError
from eir.identity import DEFAULT_TEST_TAC_PREFIXES, Anomaly
from eir.model import RADIO_TECHNOLOGIES, ListName, StoreClass

#: What an anomaly does: ``ignore`` (reported, no effect) or the answer it forces.
ANOMALY_ACTIONS = ("ignore", "white", "grey", "black", "unknown")
UNKNOWN_ANSWERS = ("white", "grey", "unknown")
LOG_LEVELS = ("debug", "info", "warning", "error")
#: how `eir serve` writes its log lines on stderr (eir.logs)
LOG_FORMATS = ("text", "json")
CHECK_EVENTS = ("all", "non-white", "none")
#: the kinds of ``[[observations.duplicate_rules]]`` (eir.observations.duplicate)
DUPLICATE_RULE_KINDS = ("daily-average", "concurrent")
#: what a list file's 15-digit IMEI with a wrong check digit gets (eir.store.formats.CheckDigit)
CHECK_DIGIT_POLICIES = ("refuse", "list")
#: environment variables that hold the MQTT credentials unless the config names files
USERNAME_ENV = "EIR_MQTT_USERNAME"
PASSWORD_ENV = "EIR_MQTT_PASSWORD"

HOST_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")
TAC_PREFIX_RE = re.compile(r"[0-9]{1,8}")
ISO_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
PREFIX_RE = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")
NODE_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: ``store.max_remove``: a count or a percentage (see eir.store.guard)
MAX_REMOVE_RE = re.compile(r"(?P<count>[0-9]{1,12})|(?P<percent>[0-9]{1,3}(\.[0-9]{1,3})?) ?%")


def strptime_format(text: str) -> str:
    """``lists.date_format`` and ``--date-format``, checked once: a strptime format whose
    directives Python knows; InvalidValueError saying why not."""
    if "%" not in text:
        raise InvalidValueError(f"{text!r} is not a strptime format (e.g. %d/%m/%Y %H:%M)")
    try:
        datetime.strptime("", text)
    except ValueError as exc:
        if not str(exc).startswith("time data"):  # a bad directive, a stray %: no format
            raise InvalidValueError(f"{text!r} is not a strptime format: {exc}") from None
    return text


def remove_limit(text: str) -> tuple[int | None, float | None]:
    """``store.max_remove`` and ``--max-remove`` (eir.store.guard), checked once: (a count,
    None) or (None, a percentage); InvalidValueError saying why not."""
    found = MAX_REMOVE_RE.fullmatch(text.strip())
    if found is None:
        raise InvalidValueError(f"{text!r} is not a count (5000) or a percentage (10%)")
    if found["count"] is not None:
        return int(found["count"]), None
    percent = float(found["percent"])
    if percent > 100:
        raise InvalidValueError(f"{text!r} is over 100%")
    return None, percent


_COUNT = Integer(1, 1_000_000)
_MESSAGE_BYTES = Integer(4096, 16 * 2**20)
_NETWORKS = ListOf(Text(is_network, "an address or network"))
_STRINGS = ListOf(Text())
_FILE = Text()


def _global_title(text: str) -> bool:
    return text.isdigit() and len(text) <= 20


@section
class StoreConfig:
    """The LMDB list store."""

    path: str = setting(
        Text(empty="must not be empty"),
        "LMDB environment directory (`eir load` creates it; `eir serve` only with create). "
        "`--db PATH` overrides it.",
        default="var/eir.lmdb",
    )
    map_size_mb: int = setting(
        Integer(1),
        "Initial LMDB map size in MiB. When a load fills the map, eir doubles it and retries "
        "the load, up to max_map_size_mb.",
        default=1024,
    )
    max_map_size_mb: int = setting(
        Integer(),
        "The ceiling of the map size in MiB; past it a load fails with the previous lists intact.",
        default=262144,
        at_least="map_size_mb",
    )
    max_remove: str = setting(
        Text(remove_limit, "a count (5000) or a percentage (10%)"),
        "`eir load --mode replace` refuses to remove more than this many entries, or this share "
        "of the (list, source)'s current entries, without --force: a truncated file must not "
        "wipe a list. `--max-remove` overrides it.",
        default="10%",
    )
    sync: bool = setting(
        Boolean(),
        "fsync at every commit (LMDB's default). false is faster, and a power cut may lose the "
        "last loads (never a half load: LMDB commits are atomic either way).",
        default=True,
    )
    read_snapshot_ms: int = setting(
        Integer(0, 60000),
        "Lookups share one LMDB read snapshot for at most this many milliseconds (0: a new one "
        "every lookup). A committed load is answered from within this time; longer is faster.",
        default=50,
    )
    create: bool = setting(
        Boolean(),
        "`eir serve` creates an empty store at path when there is none (like `--create`). "
        "Off, it refuses to start: a mistyped path would answer every stolen phone white.",
        default=False,
    )


def is_time_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone this system knows (``UTC``, ``Asia/Ho_Chi_Minh``)."""
    if name.upper() == "UTC":
        return True
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


@section
class ListsConfig:
    """How `eir load` and `eir publish` read list files (their options override these)."""

    timezone: str = setting(
        Text(is_time_zone, "an IANA time zone (e.g. UTC, Asia/Ho_Chi_Minh)"),
        "The time zone of `added` dates that name none (an IANA name). `--timezone` overrides it.",
        default="UTC",
    )
    date_format: str = setting(
        Text(strptime_format, "a strptime format (e.g. %m/%d/%Y)", optional=True),
        'The strptime format of `added` dates that are not ISO 8601 or epoch seconds; "": '
        "day-first DD/MM/YYYY (or DD.MM.YYYY, DD-MM-YYYY), optionally with HH:MM[:SS]. "
        "`--date-format` overrides it.",
        default="",
    )
    check_digit: str = setting(
        Choice(*CHECK_DIGIT_POLICIES),
        "A 15-digit IMEI whose check digit is wrong: refuse (a bad row: most often a typo) or "
        "list (listed by its 14 digits, each such row reported as a warning). "
        "`--check-digit` overrides it.",
        default="refuse",
    )


ANOMALY_KIND = ChoiceTable(
    Anomaly,
    ANOMALY_ACTIONS,
    {
        Anomaly.CHECK_DIGIT: (
            "grey",
            "a 15th digit that is not the Luhn check digit of the first 14",
        ),
        Anomaly.SAME_DIGITS: (
            "grey",
            "TAC + SNR all one digit (00000000000000, 11111111111111, ...)",
        ),
        Anomaly.ZERO_TAC: (
            "grey",
            "TAC 00000000: never allocated; typical of phones with no real IMEI",
        ),
        Anomaly.TEST_TAC: ("ignore", "a TAC under test_tac_prefixes"),
        Anomaly.MALFORMED: (
            "ignore",
            "the wire carried an identity no list can hold (an S13 hexadecimal 3GPP2-MEID); "
            "ignore: the unknown answer (policy.unknown), as before. Wire cases that cannot be "
            "answered (S13 5004, MAP errors) stay protocol errors",
        ),
        Anomaly.TAC_UNALLOCATED: (
            "grey",
            "a device database is loaded (`eir devices load`) and the TAC is not in it (a test "
            "TAC is test-tac only); with none loaded the class does not exist. grey as DIRBS "
            "greylists unallocated TACs",
        ),
        Anomaly.NOT_APPROVED: (
            "ignore",
            "an approved-models list is loaded and the device is not on it (a TAC a loaded "
            "device database lacks is tac-unallocated only); ignore as most "
            "regulators act on it through a device rule with a cut-off (not_approved = true)",
        ),
    },
)


CLASS_KIND = ChoiceTable(
    StoreClass,
    ANOMALY_ACTIONS,
    {
        StoreClass.DUPLICATE: (
            "grey",
            "used by more SIMs than one handset can be ([[observations.duplicate_rules]]); "
            "grey so that nobody is blocked on a heuristic",
        ),
    },
)


def is_iso_date(text: str) -> bool:
    """A calendar date written YYYY-MM-DD (a rule's cut-off)."""
    if not ISO_DATE_RE.fullmatch(text):
        return False
    try:
        datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return False
    return True


#: the names of the validity classes and learnt classes, which no device rule may take
CLASS_NAMES = frozenset(a.value for a in Anomaly) | frozenset(c.value for c in StoreClass)
#: a radio technology as eir.devices.record.radios names it
RADIO = Choice(*RADIO_TECHNOLOGIES)


@section
class DeviceRuleConfig:
    """A rule on what the handset is (its device database record), not on one IMEI: every
    match key given must hold; an IMEI whose TAC is not in the device database matches none."""

    name: str = setting(
        Text(NODE_RE.fullmatch, "1 to 64 of letters, digits and ._-"),
        "Its name in `eir lookup`, check events, the answer's why and the metrics.",
    )
    action: str = setting(
        Choice(*ANOMALY_ACTIONS),
        'What it does: "ignore" (reported only) or the answer it forces: white, grey, black '
        "or unknown.",
    )
    radio_lacks: tuple[str, ...] = setting(
        ListOf(RADIO),
        'Match: the device has none of these radios (["LTE", "NR"]: a 2G/3G-only device; '
        "radios as eir.devices.record.radios names them: GSM, UMTS, LTE, NR, CDMA, NB-IOT).",
        default=(),
    )
    radio_has: tuple[str, ...] = setting(
        ListOf(RADIO), "Match: the device has every one of these radios.", default=()
    )
    device_type: str = setting(
        Text(),
        'Match: its device type, case-insensitive (e.g. "Module", "Smartphone"); "": any.',
        default="",
    )
    brand: str = setting(Text(), 'Match: its brand name, case-insensitive; "": any.', default="")
    allocated_before: str = setting(
        Text(is_iso_date, "a date YYYY-MM-DD", optional=True),
        "Match: its TAC was allocated before this date (a TAC with no allocation date does "
        'not match); "": any.',
        default="",
    )
    not_approved: bool = setting(
        Boolean(),
        "Match: an approved-models list is loaded and the device is not on it.",
        default=False,
    )
    exempt_seen_before: str = setting(
        Text(is_iso_date, "a date YYYY-MM-DD", optional=True),
        "Exemption: an IMEI the observation store first saw before this date (UTC) keeps its "
        "other answer (grandfathering). Asked only when the rule matched. A plain node knows "
        "only its own sightings, the aggregating node every node's, and only those kept "
        '(observations.retention_days); needs observations.enabled. "": none. White '
        "IMEI+IMSI pairs are always exempt: pairs decide first.",
        default="",
    )

    def check(self, where: str) -> None:
        if self.name in CLASS_NAMES:
            raise ConfigError(
                f"{where}name: {self.name!r} is the name of a class; a device rule needs "
                "a name of its own"
            )
        if not (
            self.radio_lacks
            or self.radio_has
            or self.device_type
            or self.brand
            or self.allocated_before
            or self.not_approved
        ):
            raise ConfigError(
                f"{where}name: rule {self.name!r} has no match key (radio_lacks, radio_has, "
                "device_type, brand, allocated_before, not_approved)"
            )


#: what a black entry answers in its notice period (before its due date, ``policy.notice``)
NOTICE_ANSWERS = ("grey", "white")
CLASS_NOTICE_KIND = ChoiceTable(
    StoreClass,
    ("ignore", *NOTICE_ANSWERS),
    {
        StoreClass.DUPLICATE: (
            "grey",
            "a duplicate class with a due date (a grace period) answers this until then",
        ),
    },
)
#: what a pending theft case answers (``cases.pending_answer``): "unchanged" adds no entry
CASE_PENDING_ANSWERS = ("grey", "white", "unchanged")


@section
class PolicyConfig:
    """How a check is answered from the lists."""

    unknown: str = setting(
        Choice(*UNKNOWN_ANSWERS),
        "Answer for an IMEI that is on no list: white, grey or unknown (Diameter "
        "DIAMETER_ERROR_EQUIPMENT_UNKNOWN 5422, MAP error unknownEquipment 7).",
        default="white",
    )
    precedence: tuple[ListName, ...] = setting(
        Order(ListName),
        "When one level (pair, IMEI, range) holds entries on several lists, the first list "
        "here wins.",
        default=(ListName.BLACK, ListName.GREY, ListName.WHITE),
    )
    test_tac_prefixes: tuple[str, ...] = setting(
        ListOf(Text(TAC_PREFIX_RE.fullmatch, "1 to 8 digits of a TAC")),
        'TAC prefixes of test equipment (GSMA TS.06 test IMEIs start 001): anomaly "test-tac".',
        default=DEFAULT_TEST_TAC_PREFIXES,
    )
    anomalies: Mapping[Anomaly, str] = setting(
        ANOMALY_KIND,
        'What each anomaly does: "ignore" (reported only) or the answer it forces: white, '
        "grey, black or unknown. An anomaly decides after IMEI+IMSI pair and exact IMEI "
        "entries and before IMEI ranges, so a listed handset keeps its listed answer.",
        default_factory=ANOMALY_KIND.defaults,
    )
    classes: Mapping[StoreClass, str] = setting(
        CLASS_KIND,
        'What each class eir learnt about an IMEI does: "ignore" (reported only) or the answer '
        "it forces: white, grey, black or unknown. A class decides at the level of the "
        "anomalies: after IMEI+IMSI pairs and exact IMEI entries, before IMEI ranges.",
        default_factory=CLASS_KIND.defaults,
    )
    device_rules: tuple[DeviceRuleConfig, ...] = setting(
        TableRows(
            DeviceRuleConfig,
            [
                {
                    "name": "2g-only",
                    "action": "black",
                    "radio_lacks": ["UMTS", "LTE", "NR"],
                    "exempt_seen_before": "2024-03-01",
                },
                {"name": "modules", "action": "ignore", "device_type": "Module"},
            ],
            unique="name",
        ),
        "Rules on the device behind the TAC (`eir devices load`). They decide at the level of "
        "the anomalies and classes: after IMEI+IMSI pairs and exact IMEI entries, before "
        "ranges; among them the answer first in precedence wins (ties: anomalies, then "
        "classes, then rules in this order).",
        default=(),
    )
    notice: str = setting(
        Choice(*NOTICE_ANSWERS),
        "What a black entry answers in its notice period, before its due date (its "
        "`effective` time; a grace period): grey (the network lets the handset on and warns) "
        "or white. From the due date on it answers black. Judged at each check from the "
        "entry's times, so every node flips at the same instant.",
        default="grey",
    )
    class_notice: Mapping[StoreClass, str] = setting(
        CLASS_NOTICE_KIND,
        "What a class eir learnt about an IMEI answers before its due date, when its entry "
        'has one: "ignore", white or grey (its `policy.classes` action applies from then on).',
        default_factory=CLASS_NOTICE_KIND.defaults,
    )


@section
class PairsConfig:
    """IMEI+IMSI pairs, the exception list checked before every other entry."""

    max_per_imei: int = setting(
        Integer(0, 100_000),
        "The most IMSIs paired with one IMEI on the white list (DIRBS allows a primary and 4 "
        "more): a load, a publish or `eir pairs grandfather` that would go past it is refused "
        "(grandfathering keeps the pairs seen on most days). 0: no limit.",
        default=5,
    )


@section
class DuplicateRuleConfig:
    """A rule that finds IMEIs used by more SIMs than one handset can be."""

    name: str = setting(
        Text(NODE_RE.fullmatch, "1 to 64 of letters, digits and ._-"),
        "Its name in events/duplicate, `eir duplicates` and the class's reason.",
    )
    kind: str = setting(
        Choice(*DUPLICATE_RULE_KINDS),
        '"daily-average": distinct IMSIs a day, averaged over the days the IMEI was seen in '
        'the last window_days (DIRBS); "concurrent": min_imsis distinct IMSIs seen within '
        "minutes of each other in the last window_days.",
    )
    window_days: int = setting(
        Integer(1, 3650), "The days looked at, up to the newest observation.", default=30
    )
    min_average: float = setting(
        Number(0, 1_000_000),
        "daily-average: the IMEI is a duplicate above this average.",
        default=3.1,
    )
    min_days: int = setting(
        Integer(1, 3650),
        "daily-average: and only when seen on at least this many days of the window.",
        default=5,
    )
    min_imsis: int = setting(
        Integer(2, 100_000), "concurrent: this many distinct IMSIs or more.", default=2
    )
    minutes: int = setting(
        Integer(1, 1440), "concurrent: seen within this many minutes of each other.", default=10
    )

    #: the keys only one kind of rule reads
    KIND_KEYS: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "daily-average": ("min_average", "min_days"),
        "concurrent": ("min_imsis", "minutes"),
    }

    def unused_keys(self) -> tuple[str, ...]:
        """The other kind's keys: neither read nor shown in a rendered file."""
        return tuple(k for kind, keys in self.KIND_KEYS.items() if kind != self.kind for k in keys)

    def check(self, where: str) -> None:
        defaults = {f.name: f.default for f in fields(self)}
        for key in self.unused_keys():
            if getattr(self, key) != defaults[key]:
                raise ConfigError(f"{where}{key}: not read by a {self.kind} rule")
        if self.kind == "daily-average" and self.min_days > self.window_days:
            raise ConfigError(
                f"{where}min_days: {self.min_days} days are more than the window of "
                f"{self.window_days} (window_days)"
            )


#: the documented default: the DIRBS rule (30 days, an average above 3.1, at least 5 days:
#: the fields' defaults)
DIRBS_RULE = DuplicateRuleConfig(name="dirbs", kind="daily-average")


@section
class ObservationsConfig:
    """Who uses which handset: every check that carries an IMSI records its IMEI-IMSI pair in
    an observation store of its own, off the answer path. The store holds full IMSIs: it is
    personal data (docs/observations.md)."""

    enabled: bool = setting(
        Boolean(),
        "Record the IMEI-IMSI pair of every check that carries an IMSI.",
        default=True,
    )
    path: str = setting(
        Text(),
        'The observation store (an LMDB directory); "": observations.lmdb beside store.path.',
        default="",
    )
    retention_days: int = setting(
        Integer(1, 36_500),
        "Days of observations kept: older days are dropped, and pairs last seen before them.",
        default=180,
    )
    buffer_size: int = setting(
        Integer(1, 10_000_000),
        "Checks waiting to be written; past it they are dropped and counted, never waited for.",
        default=100_000,
    )
    flush_interval_s: float = setting(
        Number(0.01, 3600), "How often the buffer is written, in one transaction.", default=1.0
    )
    sync: bool = setting(
        Boolean(),
        "Flush each write to disk (false: faster, a system crash may lose the last writes).",
        default=True,
    )
    map_size_mb: int = setting(
        Integer(1, 1 << 20),
        "Initial size of its LMDB map, grown as needed (doubling).",
        default=256,
    )
    publish_interval_s: float = setting(
        Number(0.05, 3600),
        "With a broker: how often this node publishes the pairs it changed to "
        "<prefix>/observations/<node>.",
        default=5.0,
    )
    aggregate: bool = setting(
        Boolean(),
        "Merge every node's observations into this node's store, find duplicates and send "
        "them to every node as a list update (one aggregating node per network; `eir observe` "
        "does it as a process of its own).",
        default=False,
    )
    duplicate_rules: tuple[DuplicateRuleConfig, ...] = setting(
        TableRows(
            DuplicateRuleConfig,
            [
                {"name": DIRBS_RULE.name, "kind": DIRBS_RULE.kind},
                {
                    "name": "same-time",
                    "kind": "concurrent",
                    "window_days": 1,
                    "min_imsis": 2,
                    "minutes": 10,
                },
            ],
            unique="name",
        ),
        "The rules the aggregating node finds duplicates with (the DIRBS rule by default). "
        "A rule's window_days is at most retention_days; min_days at most its window_days; "
        "a key of the other kind (min_imsis for a daily-average rule) is refused.",
        default=(DIRBS_RULE,),
    )

    def check(self, where: str) -> None:
        for i, rule in enumerate(self.duplicate_rules):
            if rule.window_days > self.retention_days:
                raise ConfigError(
                    f"{where}duplicate_rules[{i}].window_days: {rule.window_days} days are more "
                    f"than retention_days ({self.retention_days}) keeps"
                )


@section
class LogConfig:
    """Logging (to stderr)."""

    level: str = setting(
        Choice(*LOG_LEVELS),
        "The least severe level logged (the lifecycle lines, serving, listening, ready and "
        "stopping, are always written). `eir serve --log-level` overrides it.",
        default="info",
    )
    format: str = setting(
        Choice(*LOG_FORMATS),
        'One line per record, times in UTC: "text" (TIME LEVEL LOGGER: MESSAGE) or "json" '
        "(one object per line). `eir serve --log-format` overrides it.",
        default="text",
    )
    checks: str = setting(
        Choice(*CHECK_EVENTS),
        "Which checks get a log line (IMEI, IMSI masked as events.mask_imsi says, protocol, "
        "peer, answer, why): all, non-white (grey, black and unknown answers) or none. "
        "Without a broker this is the only record of why a handset was refused. Requests "
        "refused as malformed are counted in eir_checks_total, not logged here.",
        default="non-white",
    )
    checks_per_second: int = setting(
        Integer(1, 1_000_000),
        "The most check lines a second; past it they are counted and one line a second says "
        "how many were suppressed.",
        default=100,
    )


@section
class ServiceConfig:
    """The processes of `eir serve`."""

    workers: int = setting(
        Integer(1, 256),
        "Processes that serve the same listening ports (SO_REUSEPORT) from the same LMDB "
        "environment. `eir serve --workers N` overrides it.",
        default=1,
    )


@section
class DiameterPeerConfig:
    """A peer the EIR dials (a DRA): it connects, sends CER, and reconnects every Tc."""

    address: Endpoint = setting(
        EndpointKind(3868), "Where to dial: [tcp://|sctp://]HOST[:PORT] (3868 by default)."
    )
    host: str = setting(
        Text(),
        "Its Origin-Host when known: no dialling while it is connected to us already.",
        default="",
    )


@section
class DiameterConfig:
    """Diameter S13 (3GPP TS 29.272) over the RFC 6733 base protocol.

    Connections that have not finished CER/CEA are pending, in a pool of their own. When it is
    full, a newcomer makes room: the oldest pending connection of the address holding the most
    is closed (at once if that address holds more than max_pending_per_address, else once it
    is a second old); a newcomer whose own address holds its share only closes that address's
    oldest connection that never sent a byte. A burst of connections whose handshakes are
    under way is let in beyond the pool while fewer than max_connections are pending (those of
    them still silent a second later are closed); the rest are refused. Refusals are logged
    once, then as one line with a count per 10 s (eir/transport/stream.py).
    """

    listen: tuple[Endpoint, ...] = setting(
        ListOf(EndpointKind(3868)),
        "Where to accept Diameter S13 connections. `eir serve --diameter-listen ADDRESS` "
        "(repeatable) overrides this list.",
        default=(Endpoint("tcp", "127.0.0.1", 3868),),
    )
    origin_host: str = setting(
        Text(HOST_RE.fullmatch, "a host or realm name"),
        "Our Origin-Host in every answer, CER and CEA.",
        default="eir.localdomain",
    )
    origin_realm: str = setting(
        Text(HOST_RE.fullmatch, "a host or realm name"),
        "Our Origin-Realm in every answer, CER and CEA.",
        default="localdomain",
    )
    realms: tuple[str, ...] = setting(
        ListOf(Text(fold=True)),
        "Destination-Realms we serve (compared in lower case); empty serves any. Others get "
        "3003 DIAMETER_REALM_NOT_SERVED.",
        default=(),
    )
    host_ip_addresses: tuple[str, ...] = setting(
        ListOf(Text(is_ip_address, "an IP address")),
        "Host-IP-Address values of our CER/CEA; empty: the local address of each connection.",
        default=(),
    )
    vendor_id: int = setting(
        Integer(0, 2**32 - 1),
        "Our Vendor-Id in CER/CEA (an IANA enterprise number; 0 = none).",
        default=0,
    )
    watchdog_s: float = setting(
        Number(6, 3600),
        "Tw (RFC 3539): a DWR after this many seconds of silence; the connection is closed "
        "when that DWR is not answered within as long again.",
        default=30.0,
    )
    reconnect_s: float = setting(
        Number(1, 3600),
        "Tc: seconds between attempts to reach a peer of [[diameter.peers]].",
        default=30.0,
    )
    cer_timeout_s: float = setting(
        Number(1, 600),
        "A connection that sends no CER (or does not answer ours) within this many seconds is "
        "closed.",
        default=10.0,
    )
    max_message_bytes: int = setting(
        _MESSAGE_BYTES,
        "A longer message is answered 5015 DIAMETER_INVALID_MESSAGE_LENGTH and skipped.",
        default=65536,
    )
    max_in_flight: int = setting(
        _COUNT,
        "Past this many queued requests on one connection, requests are answered 3004 "
        "DIAMETER_TOO_BUSY.",
        default=1024,
    )
    max_connections: int = setting(
        _COUNT,
        "Past this many established peers, new ones are closed once their CER is answered.",
        default=1024,
    )
    max_pending_connections: int = setting(
        _COUNT,
        "Connections that have not finished CER/CEA (the pending pool, above).",
        default=64,
    )
    max_pending_per_address: int = setting(
        _COUNT,
        "An address holding more pending connections than this yields room first.",
        default=8,
    )
    read_timeout_s: float = setting(
        Number(0.5, 3600),
        "A message left incomplete this many seconds closes its connection (a peer sending "
        "one byte a second).",
        default=10.0,
    )
    allowed_hosts: tuple[str, ...] = setting(
        _STRINGS,
        'Allow-list of Origin-Host patterns ("mme*.example.org"); empty: any. A peer refused '
        "by any allow-list gets CEA 3010 DIAMETER_UNKNOWN_PEER and is disconnected.",
        default=(),
    )
    allowed_realms: tuple[str, ...] = setting(
        _STRINGS, "Allow-list of Origin-Realm patterns; empty: any.", default=()
    )
    allowed_networks: tuple[str, ...] = setting(
        _NETWORKS,
        'Allow-list of source addresses or networks ("10.0.0.0/8"); empty: any.',
        default=(),
    )
    max_avp_depth: int = setting(
        Integer(2, 64),
        "Grouped AVPs nesting deeper than this (a top-level AVP is at depth 1) are answered "
        "5004 DIAMETER_INVALID_AVP_VALUE, checked before anything else reads a message.",
        default=8,
    )
    max_avps: int = setting(
        Integer(16, 65536),
        "A message with more AVPs than this (all levels) is answered 5009 "
        "DIAMETER_AVP_OCCURS_TOO_MANY_TIMES.",
        default=1024,
    )
    duplicate_peer: str = setting(
        Choice("keep", "replace"),
        "A CER with the Origin-Host of an open connection from another address: keep the open "
        "one while its watchdog finds it alive (the newcomer gets CEA 5012 "
        "DIAMETER_UNABLE_TO_COMPLY), or replace it (DPR BUSY). From the same address the "
        "newcomer always replaces it (a restart).",
        default="keep",
    )
    require_origin_match: bool = setting(
        Boolean(),
        "true: an ECR whose Origin-Host is not the one of its connection's CER is answered "
        "3010 DIAMETER_UNKNOWN_PEER (for MMEs connected directly; leave false behind a DRA).",
        default=False,
    )
    peers: tuple[DiameterPeerConfig, ...] = setting(
        TableRows(
            DiameterPeerConfig,
            [{"address": "tcp://dra1.example.org:3868", "host": "dra1.example.org"}],
        ),
        "Peers to dial (a DRA), as many as needed.",
        default=(),
    )


@section
class M3uaAspConfig:
    """A configured ASP: an MSC/VLR, SGSN or STP allowed to activate."""

    name: str = setting(Text(empty="missing"), "Its name in logs and events; unique.")
    asp_identifier: int = setting(
        Integer(-1, 2**32 - 1),
        'The ASP Identifier its ASPUP must carry (otherwise ERR "ASP Identifier Required" / '
        '"Invalid ASP Identifier"; one association at a time holds it); -1: any or none.',
        default=-1,
    )
    networks: tuple[str, ...] = setting(
        _NETWORKS, "Source networks it connects from (addresses or CIDR); empty: any.", default=()
    )
    routing_contexts: tuple[int, ...] = setting(
        ListOf(Uint32()),
        "Routing Contexts its ASPAC may name; empty: m3ua.routing_contexts.",
        default=(),
    )
    override: bool = setting(
        Boolean(),
        'Whether it may activate in override mode (others get ERR "Unsupported Traffic Mode '
        'Type"); override never displaces ASPs active in loadshare mode.',
        default=False,
    )


@section
class M3uaConfig:
    """MAP CheckIMEI (3GPP TS 29.002) over TCAP, SCCP and M3UA (RFC 4666), from MSC/VLRs and
    SGSNs over SIGTRAN.

    Associations that are not ASP-ACTIVE yet (ASPUP and ASPAC) have a pending pool of their
    own, as in [diameter]. Dialogues are not kept open: each Begin gets its End. Whatever is
    configured, an ASPAC naming no Routing Context when contexts are configured gets ERR "No
    Configured AS for ASP", and DATA must carry an active one (ERR "Missing Parameter" /
    "Invalid Routing Context").
    """

    listen: tuple[Endpoint, ...] = setting(
        ListOf(EndpointKind(2905)),
        "Where to accept M3UA associations. `eir serve --m3ua-listen` overrides it.",
        default=(Endpoint("tcp", "127.0.0.1", 2905),),
    )
    routing_contexts: tuple[int, ...] = setting(
        ListOf(Uint32()),
        'Routing Contexts served (an ASPAC naming another gets ERR "Invalid Routing Context"); '
        "empty: any.",
        default=(),
    )
    network_appearance: int = setting(
        Integer(-1, 2**32 - 1),
        'Network Appearance DATA must carry (ERR "Invalid Network Appearance" otherwise); -1: any.',
        default=-1,
    )
    ssn: int = setting(
        Integer(1, 254),
        'Our SCCP subsystem: messages for another get UDTS/XUDTS "unequipped user" when asked.',
        default=9,
    )
    point_code: int = setting(
        Integer(-1, 16383),
        "OPC of our answers (ITU, 14 bits); -1: the DPC the request was sent to.",
        default=-1,
    )
    global_title: str = setting(
        Text(_global_title, "up to 20 digits", optional=True),
        'Calling party global title of our answers (digits); "": the address the request called.',
        default="",
    )
    peers: tuple[Endpoint, ...] = setting(
        ListOf(EndpointKind(2905)),
        'Signalling gateways to connect to as an ASP ("tcp://sg1.example.org:2905"), '
        "reconnecting every reconnect_s seconds.",
        default=(),
    )
    traffic_mode: str = setting(
        Choice("loadshare", "override"),
        "The traffic mode our ASPAC asks for when we are the ASP.",
        default="loadshare",
    )
    reconnect_s: float = setting(
        Number(1, 3600), "Seconds between attempts to reach a gateway of peers.", default=5.0
    )
    max_message_bytes: int = setting(
        _MESSAGE_BYTES,
        "A longer message closes the association (M3UA cannot skip it).",
        default=65536,
    )
    max_connections: int = setting(
        _COUNT,
        "Past this many active ASPs new ones are closed once their ASPAC is answered.",
        default=1024,
    )
    max_pending_connections: int = setting(
        _COUNT, "Associations that are not ASP-ACTIVE yet (the pending pool).", default=64
    )
    max_pending_per_address: int = setting(
        _COUNT,
        "An address holding more pending associations than this yields room first.",
        default=8,
    )
    read_timeout_s: float = setting(
        Number(0.5, 3600),
        "A message left incomplete this many seconds closes its association.",
        default=10.0,
    )
    allowed_networks: tuple[str, ...] = setting(
        _NETWORKS,
        'Source networks allowed to connect ("10.0.0.0/8", "192.0.2.7"); others are closed at '
        "once. Empty: any.",
        default=(),
    )
    handshake_timeout_s: float = setting(
        Number(0, 3600),
        "An association that is not ASP-ACTIVE this many seconds after connecting is closed; "
        "0: never.",
        default=10.0,
    )
    beat_interval_s: float = setting(
        Number(0, 3600),
        "After this many seconds without a byte received we send BEAT, and close when nothing "
        "arrives for as long again (both sides of a link); 0: no BEAT.",
        default=30.0,
    )
    asps: tuple[M3uaAspConfig, ...] = setting(
        TableRows(
            M3uaAspConfig,
            [
                {
                    "name": "msc1",
                    "asp_identifier": 11,
                    "networks": ["10.1.0.0/16"],
                    "routing_contexts": [100],
                    "override": False,
                }
            ],
            unique="name",
        ),
        "Configured ASPs. When any is configured, an ASP must match one: its source address, "
        "the ASP Identifier of its ASPUP and the Routing Contexts of its ASPAC.",
        default=(),
    )


@section
class MqttConfig:
    """The MQTT broker: events out, list updates in (eir/publish)."""

    #: keys refused with a reason (before unknown keys)
    REFUSED: ClassVar[Mapping[str, str]] = {
        secret: "credentials never go in the config file: "
        f"use {secret}_file or the {secret}_env variable"
        for secret in ("username", "password")
    }

    broker: Broker | None = setting(
        BrokerKind(),
        'The broker for events and list updates; "": no MQTT at all (no events, no list '
        "updates). `eir serve --broker URL` overrides it.",
        default=None,
    )
    prefix: str = setting(
        Text(
            PREFIX_RE.fullmatch,
            "topic levels of letters, digits and ._- separated by / "
            "(no wildcards, no leading or trailing /)",
        ),
        "Topic prefix of this network: <prefix>/check/<status>, <prefix>/events/..., "
        "<prefix>/lists/...",
        default="eir",
    )
    node: str = setting(
        Text(NODE_RE.fullmatch, "1 to 64 of letters, digits and ._-", optional=True),
        'This node\'s name in events and its MQTT client id (unique per broker); "": the host '
        "name.",
        default="",
    )
    username_file: str = setting(
        _FILE,
        "A file holding the user name. Credentials never go in this file: each comes from its "
        "file when one is named, or else from its environment variable.",
        default="",
    )
    password_file: str = setting(_FILE, "A file holding the password.", default="")
    username_env: str = setting(
        Text(), "The variable holding the user name (no username_file).", default=USERNAME_ENV
    )
    password_env: str = setting(
        Text(), "The variable holding the password (no password_file).", default=PASSWORD_ENV
    )
    ca_file: str = setting(
        _FILE, 'TLS (an mqtts:// broker): the CA bundle; "": the system\'s.', default=""
    )
    cert_file: str = setting(_FILE, "TLS: a client certificate (with key_file).", default="")
    key_file: str = setting(_FILE, "TLS: the key of cert_file.", default="")
    tls_insecure: bool = setting(
        Boolean(),
        "Accept a broker certificate whose name does not match the host (labs only).",
        default=False,
    )
    keepalive_s: int = setting(Integer(5, 3600), "MQTT keepalive in seconds.", default=30)
    reconnect_min_s: float = setting(
        Number(0.05, 3600),
        "Reconnection: the delay doubles from this (with jitter) while the broker is away.",
        default=0.5,
    )
    reconnect_max_s: float = setting(
        Number(0.05, 3600),
        "The longest delay between reconnection attempts.",
        default=30.0,
        at_least="reconnect_min_s",
    )

    def check(self, where: str) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise ConfigError(f"{where}cert_file: a client certificate needs key_file too")


@section
class EventsConfig:
    """What is published on the broker. Publishing never delays an answer: events wait in a
    queue of queue_size; past it they are dropped and counted, and the count is published on
    <prefix>/events/dropped once the broker is back."""

    checks: str = setting(
        Choice(*CHECK_EVENTS),
        "Which checks are published to <prefix>/check/<white|grey|black|unknown>: all, "
        "non-white (grey, black, unknown) or none.",
        default="non-white",
    )
    sample: float = setting(
        Number(0, 1), "The share of those checks published (1: every one).", default=1.0
    )
    mask_imsi: bool = setting(
        Boolean(),
        "Publish only the IMSI's MCC and MNC (the first 5 digits), the rest as '*'.",
        default=True,
    )
    queue_size: int = setting(
        Integer(1, 10_000_000), "Events waiting for the broker.", default=10000
    )
    peers: bool = setting(
        Boolean(),
        "Diameter peer and M3UA association up/down events on <prefix>/events/peer.",
        default=True,
    )
    pairing: bool = setting(
        Boolean(),
        "An event on <prefix>/events/pairing when an IMSI is seen with a new handset or a "
        "handset with a new SIM (the writer of the observations tells it).",
        default=False,
    )
    duplicates: bool = setting(
        Boolean(),
        "An event on <prefix>/events/duplicate when the aggregating node finds a duplicate.",
        default=True,
    )
    lists: bool = setting(
        Boolean(),
        "An event on <prefix>/events/lists whenever the lists change (a load or an applied "
        "update).",
        default=True,
    )
    cases: bool = setting(
        Boolean(),
        "An event on <prefix>/events/case whenever a theft case changes state (opened, "
        "blocked, recovered) on this node: for the systems that tell the owner and the police.",
        default=True,
    )


@section
class LifecycleConfig:
    """Entries with times: due dates (grace periods), expiry and the purge of expired entries
    (docs/lifecycle.md)."""

    purge_interval_s: float = setting(
        Number(0, 30 * 86400),
        "How often the daemon deletes the entries whose `expires` is past (by its leading "
        "process, off the answer path, in steps of purge_batch entries); 0: never (`eir purge` "
        "does it by hand). An expired entry stops matching at its time whether purged or not.",
        default=3600.0,
    )
    purge_batch: int = setting(
        Integer(100, 10_000_000),
        "Entries deleted per transaction by a purge, so a purge never holds the store long.",
        default=50_000,
    )
    clock_offset_s: float = setting(
        Number(-100 * 365 * 86400, 100 * 365 * 86400),
        "Seconds added to the clock the answers are judged by (due dates, expiry): a test "
        "lab's way to see next month's answers today. 0 on a live network. A reload (SIGHUP) "
        "applies a new value.",
        default=0.0,
    )


@section
class CasesConfig:
    """Theft cases (`eir case`): a case holds one or more IMEIs, goes pending -> blocked ->
    recovered (docs/cases.md)."""

    pending_answer: str = setting(
        Choice(*CASE_PENDING_ANSWERS),
        "What a pending case's IMEIs answer while the police verify ownership: grey or white "
        "(an entry on that list, source `cases.source`), or unchanged (no entry: the IMEIs "
        "answer what they answered before).",
        default="grey",
    )
    source: str = setting(
        Text(NODE_RE.fullmatch, "1 to 64 of letters, digits and ._-"),
        "The source of the entries a case puts on the lists (its reference is the case's).",
        default="case",
    )


@section
class VersionsConfig:
    """Every committed change to the list store is a version (docs/versions.md)."""

    keep: int = setting(
        Integer(1, 100_000),
        "The versions whose changes are kept for `eir diff` and `eir rollback` (the newest "
        "ones; the older change sets are dropped at the next change). The version records "
        "themselves (the audit trail) are never dropped.",
        default=50,
    )


@section
class DistributionConfig:
    """List updates from the broker (`eir publish` sends them)."""

    subscribe: bool = setting(
        Boolean(),
        "Follow <prefix>/lists/ and apply the updates `eir publish` sends, in order, once.",
        default=True,
    )
    fetch_timeout_s: float = setting(
        Number(1, 86400),
        "An update whose parts do not all arrive within this many seconds is dropped and "
        "fetched again later.",
        default=60.0,
    )


@section
class MetricsConfig:
    """Prometheus metrics."""

    listen: Endpoint | None = setting(
        HttpListen(),
        'The text endpoint (GET /metrics), HTTP on HOST:PORT; "" turns it off. '
        "`eir serve --metrics-listen HOST:PORT` overrides it.",
        default=Endpoint("tcp", "127.0.0.1", 9464),
    )


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration: one section a table of the file, in the file's order."""

    store: StoreConfig = field(default_factory=StoreConfig)
    lists: ListsConfig = field(default_factory=ListsConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    pairs: PairsConfig = field(default_factory=PairsConfig)
    observations: ObservationsConfig = field(default_factory=ObservationsConfig)
    log: LogConfig = field(default_factory=LogConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    diameter: DiameterConfig = field(default_factory=DiameterConfig)
    m3ua: M3uaConfig = field(default_factory=M3uaConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    distribution: DistributionConfig = field(default_factory=DistributionConfig)
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    cases: CasesConfig = field(default_factory=CasesConfig)
    versions: VersionsConfig = field(default_factory=VersionsConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    #: the file it came from, or "<defaults>"
    origin: str = "<defaults>"


def check_across(config: Config, prefix: str) -> None:
    """The checks of keys of different sections (``prefix``: ``FILE: ``)."""
    if config.observations.enabled:
        return
    for i, rule in enumerate(config.policy.device_rules):
        if rule.exempt_seen_before:
            raise ConfigError(
                f"{prefix}policy.device_rules[{i}].exempt_seen_before: needs observations.enabled"
            )


#: the sections of the file by name, in its order
SECTIONS: dict[str, type] = {
    f.name: type(getattr(Config(), f.name)) for f in fields(Config) if f.name != "origin"
}
