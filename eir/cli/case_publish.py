"""``eir case open|block|recover ... --publish``: the case action checked against ``--db`` (the
operator's own node, at the broker's head: refused there exactly as locally, nothing published)
and published as the next list update (:mod:`eir.publish.case_update`) instead of made in the
store; every node (this one's daemon too) applies it. The command then publishes the action's
``events/case`` message itself (the nodes applying it do not).

The MQTT client (asyncio, aiomqtt) is imported when the command runs.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from eir.cli.overrides import mqtt_overrides
from eir.cli.publish import announce, check_broker
from eir.config import Config, MqttConfig
from eir.events import CaseChanged, message_of
from eir.host import node_name
from eir.store.cases import Case
from eir.store.reading import ReadTxn
from eir.store.restore import Restore

#: the case action run against a store's snapshot: its records and the case it makes
Plan = Callable[[ReadTxn], tuple[list[Restore], Case]]


def publish_case(args: argparse.Namespace, config: Config, plan: Plan) -> int:
    """Check ``plan`` against ``--db`` (at the broker's head) and publish its case update."""
    import asyncio

    from eir.cli.publish import target_of
    from eir.publish import restore_publish
    from eir.publish.case_update import case_records
    from eir.publish.publisher import Audit
    from eir.startup import open_store

    config = mqtt_overrides(args, config)
    check_broker(args, config)
    source = config.cases.source
    made: list[Case] = []

    def read(txn: ReadTxn) -> restore_publish.Records:
        records, case = plan(txn)
        made.append(case)
        return case_records(records, case, source)

    store = open_store(config, args.db, create=False)
    try:
        at, records = restore_publish.read_at_head(store, config.mqtt.prefix, read)
    finally:
        store.close()
    case = made[0]
    step = case.steps[-1]  # the action's step: its officer
    action = f"case-{args.case_command}"
    audit = Audit(step.by, case.reason, case.reference, node_name(config.mqtt), action)
    published = asyncio.run(
        restore_publish.publish_case(
            target_of(args, config),
            at,
            records,
            audit,
            source,
            lambda seq: _event(case, seq, config.mqtt, config.events.mask_imsi),
        )
    )
    count = f"{len(case.imeis)} IMEI{'s' if len(case.imeis) > 1 else ''}"
    announce(args, config, published, f"case {case.reference}: {case.state.value}, {count}")
    return 0


def _event(case: Case, seq: int, mqtt: MqttConfig, mask: bool) -> tuple[str, bytes]:
    """The ``events/case`` message of the action, as a daemon sends it; its ``version`` the
    update's seq (each node makes the case as its own version)."""
    step = case.steps[-1]
    previous = case.previous(case.state)
    event = CaseChanged(
        case.reference,
        case.state.value,
        None if previous is None else previous.value,
        tuple(i.written for i in case.imeis),
        case.imsis,
        case.reason,
        step.by,
        seq,
        time.time(),
    )
    topic, body = message_of(event, node_name(mqtt), mask)
    return topic, json.dumps(body).encode()
