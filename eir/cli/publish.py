"""``eir publish``: list files validated as `eir load` validates them, then published over MQTT
as the next list update (`eir.publish.publisher`) for every `eir serve` to apply.

The loader (numpy) and the MQTT client (asyncio, aiomqtt) are imported when the command runs.
"""

from __future__ import annotations

import argparse
import gc
import sys
from typing import TYPE_CHECKING

from eir.cli.devices import publish_devices
from eir.cli.list_options import load_options
from eir.cli.overrides import mqtt_overrides
from eir.config import Config
from eir.errors import ConfigError
from eir.model import ListName
from eir.store.api import Mode

if TYPE_CHECKING:  # the loader (numpy) is imported when the command runs
    from eir.publish.publisher import Audit, Published
    from eir.publish.restore_publish import Target
    from eir.store.batch import Batch
    from eir.store.formats import LoadOptions
    from eir.store.writes import WriteTxn


NO_BROKER = "no broker: give --broker mqtt://HOST:PORT or set mqtt.broker"


def publish(args: argparse.Namespace, config: Config) -> int:
    from eir.store.pair_limit import NoStore, check_pairs

    config = mqtt_overrides(args, config)
    check_broker(args, config)
    if args.snapshot:
        return publish_snapshot(args, config)
    if args.db is not None:
        raise ConfigError("--db goes with --snapshot: a list update is read from its files")
    if publish_devices(args, config):  # --devices FILE or --approved FILE
        return 0
    options = load_options(args, config)
    list_name, source, mode = options.list, options.source, Mode(args.mode)
    batch = _read_lists(args.files, options)
    own = (list_name, source)
    scope = [own, *sorted({(g.list, g.source) for g in batch.groups} - {own})]
    check_pairs(NoStore(), batch, mode, scope, config.pairs.max_per_imei)
    publish_batch(args, config, batch, mode, scope)
    return 1 if batch.invalid else 0


def check_broker(args: argparse.Namespace, config: Config) -> None:
    """Refuse to start without a broker or with a bad ``--wait`` or ``--timeout``."""
    if config.mqtt.broker is None:
        raise ConfigError(NO_BROKER)
    if args.wait < 0 or args.timeout <= 0:
        raise ConfigError("--wait must be 0 or more and --timeout more than 0")


def publish_batch(
    args: argparse.Namespace,
    config: Config,
    batch: Batch,
    mode: Mode,
    scope: list[tuple[ListName, str]],
) -> None:
    """Publish ``batch`` as the next list update (the first of ``scope`` names it), waiting for
    ``--wait`` nodes, and say so: what ``eir publish`` and ``eir pairs grandfather
    --publish`` do once the batch is checked."""
    import asyncio

    from eir.publish.publisher import publish_update

    broker = config.mqtt.broker
    if broker is None:
        raise ConfigError(NO_BROKER)
    list_name, source = scope[0]
    entries = sum(len(g.keys) for g in batch.groups)
    published = asyncio.run(
        publish_update(
            config.mqtt,
            broker,
            batch,
            mode=mode,
            list_name=list_name,
            source=source,
            scope=scope,
            remove_any_source=mode is Mode.REMOVE and getattr(args, "source", None) is None,
            timeout=args.timeout,
            wait_nodes=args.wait,
            say=_say,
            audit=audit_of(args, config, getattr(args, "action", "load")),
        )
    )
    announce(args, config, published, f"{mode.value} {list_name.value}/{source}, {entries} entries")


def audit_of(args: argparse.Namespace, config: Config, action: str) -> Audit:
    """The audit a published update carries: ``--by`` (else the login name), ``--reason``,
    ``--reference``, this node's name (:func:`eir.host.node_name`) and the action."""
    from eir.host import node_name
    from eir.publish.publisher import Audit
    from eir.store.audit import login

    return Audit(
        by=_text(getattr(args, "by", None) or login(), "--by"),
        reason=_text(getattr(args, "audit_reason", "") or getattr(args, "reason", ""), "--reason"),
        reference=_text(getattr(args, "audit_reference", ""), "--reference"),
        node=node_name(config.mqtt),
        action=action,
    )


def _text(value: str, option: str) -> str:
    from eir.store.fields import check_text

    return check_text(value, option)


def target_of(args: argparse.Namespace, config: Config) -> Target:
    from eir.publish.restore_publish import Target

    broker = config.mqtt.broker
    if broker is None:
        raise ConfigError(NO_BROKER)
    return Target(config.mqtt, broker, args.timeout, args.wait, _say)


def publish_snapshot(args: argparse.Namespace, config: Config) -> int:
    """``eir publish --snapshot [--db STORE]``: the store's whole content (it must be at the
    broker's head) as the log's snapshot; the log's updates up to it deleted."""
    import asyncio

    from eir.publish import restore_publish
    from eir.startup import open_store

    if args.files or args.devices or args.approved:
        raise ConfigError("--snapshot publishes a store's content: give no files")
    if args.wait:
        raise ConfigError(
            "--wait goes with an update: a snapshot is no new update for the nodes to apply "
            "(a node starting from it reports its version as it comes up)"
        )
    store = open_store(config, args.db, create=False)
    try:
        version, records = restore_publish.read_at_head(
            store, config.mqtt.prefix, restore_publish.whole_content
        )
    finally:
        store.close()
    published, deleted = asyncio.run(
        restore_publish.publish_snapshot(
            target_of(args, config), version, records, audit_of(args, config, "snapshot")
        )
    )
    parts = published.head.snapshot_parts
    print(
        _published(config, published, f"a snapshot at #{version}", f"{len(records)} records", parts)
    )
    print(f"deleted {deleted} log messages of updates up to #{version}")
    return 0


def publish_rollback(args: argparse.Namespace, config: Config, version: int) -> int:
    """``eir rollback V --publish``: the records that take the lists back to version V of
    ``--db`` (a store at the broker's head), published as the next update."""
    import asyncio

    from eir.publish import restore_publish
    from eir.startup import open_store
    from eir.store.versions import VersionError, head_version, rollback_changes

    if args.dry_run:
        raise ConfigError("--publish and --dry-run: see the changes with --dry-run alone first")
    config = mqtt_overrides(args, config)
    check_broker(args, config)

    def changes(txn: WriteTxn) -> restore_publish.Records:
        if version == head_version(txn):
            raise VersionError(f"version {version} is the newest: nothing to roll back")
        return [(t.value, k, r) for t, k, r in rollback_changes(txn, version, config.versions.keep)]

    store = open_store(config, args.db, create=False)
    try:
        at, records = restore_publish.read_at_head(store, config.mqtt.prefix, changes)
    finally:
        store.close()
    published = asyncio.run(
        restore_publish.publish_restore(
            target_of(args, config), at, records, audit_of(args, config, "rollback"), version
        )
    )
    announce(args, config, published, f"rollback to version {version}, {len(records)} records")
    return 0


def announce(args: argparse.Namespace, config: Config, published: Published, what: str) -> None:
    """Say what was published (``what``: the update's content) and on which nodes."""
    head = published.head
    print(_published(config, published, f"update #{head.seq}", what, head.parts))
    if args.wait:
        print(f"applied on {len(published.applied_on)} nodes: {', '.join(published.applied_on)}")


def _published(config: Config, published: Published, name: str, what: str, parts: int) -> str:
    """``published NAME (WHAT, SIZE in PARTS parts) to BROKER under PREFIX/lists/ in T s``."""
    return (
        f"published {name} ({what}, {published.bytes:,} bytes in {parts} parts) to "
        f"{config.mqtt.broker} under {config.mqtt.prefix}/lists/ in {published.seconds:.2f} s"
    )


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _read_lists(files: list[str], options: LoadOptions) -> Batch:
    """The files read and validated as `eir load` reads them (the cyclic collector resting)."""
    from eir.store.loader import parse_files

    gc.disable()
    try:
        return parse_files(files, options, _say)
    finally:
        gc.enable()
