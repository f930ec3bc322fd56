"""The decision both front-ends ask for, as `eir serve` makes it: the policy over the store's
lists (`eir.policy`), counted in the metrics by the results' one naming
(`eir.diameter.results`, `eir.sigtran.outcomes`), offered to the event queue and told to the
per-check log (`eir.check_log`); the policy and the check log follow a reload (`eir.reload`).
A check that carries an IMSI is appended to the observation buffer
(`eir.observations.buffer`) when observations are on. Entries with times are judged at the
lifecycle clock (`answer_clock`: the wall clock plus ``lifecycle.clock_offset_s``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from eir import lifecycle
from eir.check_log import CheckLog
from eir.config import Config
from eir.diameter import results as s13_results
from eir.events import CheckEvent, CheckFilter, EventQueue, status_name
from eir.model import CheckRequest, CheckResult, Decide
from eir.observations.buffer import SightingBuffer
from eir.observe.metrics import Metrics, Sample
from eir.policy import Seen, decide
from eir.reload import Live
from eir.sigtran import outcomes as map_outcomes
from eir.store.lmdb_store import LmdbStore

#: the `result` label of a decision, by (MAP?, unknown?): the names of `eir.diameter.results`
#: and `eir.sigtran.outcomes`, the ones eir-sim reports
_RESULTS = {
    (False, False): s13_results.SUCCESS,
    (False, True): s13_results.EQUIPMENT_UNKNOWN,
    (True, False): map_outcomes.RESULT,
    (True, True): map_outcomes.UNKNOWN_EQUIPMENT,
}


def checker(
    config: Config,
    store: LmdbStore,
    metrics: Metrics | None = None,
    queue: EventQueue | None = None,
    live: Live | None = None,
    notes: CheckLog | None = None,
    sightings: SightingBuffer | None = None,
    seen: Seen | None = None,
) -> Decide:
    """The decision both front-ends ask for: the policy over the store's lists, counted in
    ``metrics``, offered to the event ``queue`` (never waiting on either) and told to the
    check log ``notes`` when it wants it, and appended to the ``sightings`` buffer when the
    request carries an IMSI. The policy is read from ``live`` per request, so that a reload
    changes it; the device database is the store's current one (`LmdbStore.device_index`),
    and ``seen`` (when the observation store first saw an IMEI) serves the device rules'
    exemptions."""
    live = Live(config) if live is None else live
    judged = answer_clock(live)
    lookup = store.lookup
    devices = store.device_index
    if metrics is None:

        def check(request: CheckRequest) -> CheckResult:
            return decide(request, lookup, live.config.policy, devices(), seen, judged)

        return check
    counts = metrics.checks
    wanted = CheckFilter(config.events.checks, config.events.sample).wanted
    offer = None if queue is None else queue.offer
    classes = class_counter(metrics)
    sight = None if sightings is None else sightings.add
    clock = time.time

    def observed(request: CheckRequest) -> CheckResult:
        result = decide(request, lookup, live.config.policy, devices(), seen, judged)
        if result.classes or result.findings or result.anomalies:
            # an IMEI holding no class (nearly all) costs this test only
            classes[class_label(result), result.rule] += 1
        if sight is not None:
            imsi = request.imsi
            if imsi is not None:
                sight(request.imei.key, imsi.digits, clock())
        status = result.status
        protocol = request.protocol
        counts[
            (
                protocol,
                status_name(result),
                _RESULTS[(protocol == map_outcomes.PROTOCOL, status is None)],
            )
        ] += 1
        if offer is not None and wanted(result):
            offer(CheckEvent(request, result, time.time(), judged()))
        return result

    return observed if notes is None else _noted(observed, notes)


def answer_clock(live: Live) -> Callable[[], float]:
    """The clock the answers are judged by (due dates, expiry): the wall clock plus the live
    configuration's ``lifecycle.clock_offset_s`` (a reload moves it):
    :func:`eir.lifecycle.following`. Asked only when an entry has times."""
    return lifecycle.following(live)


def _noted(observed: Decide, notes: CheckLog) -> Decide:
    """``observed``, telling the check log ``notes`` the checks it wants."""

    def noted(request: CheckRequest) -> CheckResult:
        result = observed(request)
        # CheckLog.wants, inline: with log.checks = "none" or a white answer under
        # "non-white", two attribute reads and no call
        if notes.all or (notes.on and result.status != 0):
            notes.note(request, result)
        return result

    return noted


def class_label(result: CheckResult) -> str:
    """The ``class`` label of a check of an IMEI holding a class or matching a device rule:
    the one that decided, else the first learnt class, device class or rule, else the first
    validity class by name. Bounded: the classes are fixed and the rules configured."""
    decided = result.decided_by_rule or result.decided_by_class or result.decided_by_anomaly
    if decided:
        return str(decided)
    if result.classes:
        return result.classes[0].entry.source
    if result.findings:
        return result.findings[0].name
    return min(result.anomalies).value


def class_counter(metrics: Metrics) -> Counter[tuple[str, str]]:
    """The count of checks of IMEIs holding a class (learnt, validity) or matching a device
    rule, by (class or rule, deciding rule), sampled into ``eir_class_checks_total`` at each
    scrape."""
    counts: Counter[tuple[str, str]] = Counter()

    def sample() -> dict[str, list[Sample]]:
        return {
            "eir_class_checks": [
                ((name, str(rule)), float(n)) for (name, rule), n in sorted(counts.items())
            ]
        }

    metrics.samplers.append(sample)
    return counts


def check_log(config: Config) -> CheckLog:
    """The per-check log as ``log.checks`` asks for it (a reload may change it)."""
    return CheckLog(config.log.checks, config.log.checks_per_second, config.events.mask_imsi)
