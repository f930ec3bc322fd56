"""The groups of pairs an identities scenario sends (`sim.identities` builds them), by name: the
request kinds of the same names in a mix (`sim.probes.KINDS`)."""

from __future__ import annotations

from typing import NamedTuple

#: the groups, in the order reports and files show them
GROUPS = ("shared", "near", "paired", "stolen", "swap", "ordinary")
#: what each group is, and what eir answers with the default rules and policy
GROUP_SUMMARY = {
    "shared": "one IMEI on many IMSIs at once and over days, above the DIRBS rule: class "
    "duplicate (grey with the default policy.classes)",
    "near": "IMEIs just under the DIRBS rule (an average of at most min_average IMSIs a day, "
    "or more on fewer than min_days days): no class, white",
    "paired": "black (stolen) IMEIs checked with an owner's IMSI, a white IMEI+IMSI pair: white",
    "stolen": "the same black IMEIs checked with the thief's IMSI: black",
    "swap": "an IMSI on its new handset (white) and on the old one reported lost (black); a "
    "handset on its new SIM and its old one (white)",
    "ordinary": "one IMEI, one IMSI, most days: white",
}


class Member(NamedTuple):
    """One IMEI-IMSI pair the simulator sends: its group and a note saying which case it is."""

    group: str
    imei: str
    imsi: str
    note: str = ""
