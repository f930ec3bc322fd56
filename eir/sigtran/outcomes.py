"""The names of MAP CheckIMEI outcomes: one definition for eir's metrics label `result`, its
check events and eir-sim's report (`sim.msc_role`), so that a run matches a dashboard as is.

A name is the TCAP component or abort that answered, then what it said, in the ASN.1 names of
Q.773 and TS 29.002:

* ``result``: returnResultLast, a decision (the Equipment-Status is said apart: white, grey,
  black);
* ``error:<MAP error>``: returnError, e.g. ``error:unknownEquipment`` (the policy's unknown
  answer), ``error:dataMissing``, ``error:unexpectedDataValue``, ``error:systemFailure``;
* ``reject:<problem type>:<problem>``: a Reject, e.g. ``reject:invoke:mistypedArgument``,
  ``reject:invoke:unrecognizedOperation``, ``reject:returnResult:unrecognizedInvocation``;
* ``p-abort:<P-AbortCause>``: e.g. ``p-abort:badlyFormattedTransactionPortion``;
* ``u-abort:<Associate-source-diagnostic>``: the dialogue refused, e.g.
  ``u-abort:application-context-name-not-supported``.

The protocol is ``map`` whatever the version of the dialogue (`CheckRequest.version` says it).
"""

from __future__ import annotations

from typing import Final

#: the protocol's name in metrics labels, events and eir-sim's report
PROTOCOL: Final = "map"
#: returnResultLast: a decision
RESULT: Final = "result"


def error(name: str) -> str:
    """returnError with the MAP error `name` (TS 29.002 17.6.6), e.g. ``dataMissing``."""
    return f"error:{name}"


def reject(problem_type: str, problem: str) -> str:
    """A Reject (Q.773 3.3): the problem's type (``general``, ``invoke``, ``returnResult``,
    ``returnError``) and its name."""
    return f"reject:{problem_type}:{problem}"


def p_abort(cause: str) -> str:
    """A TC P-ABORT with its P-AbortCause."""
    return f"p-abort:{cause}"


def u_abort(diagnostic: str) -> str:
    """A TC U-ABORT refusing the dialogue, with its Associate-source-diagnostic."""
    return f"u-abort:{diagnostic}" if diagnostic else "u-abort"


#: returnError unknownEquipment: the answer when the policy says unknown
UNKNOWN_EQUIPMENT: Final = error("unknownEquipment")
#: the dialogue's application context is not one we serve (TC-U-ABORT with an AARE)
CONTEXT_NOT_SUPPORTED: Final = u_abort("application-context-name-not-supported")
