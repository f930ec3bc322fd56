"""What this host's kernel and Python offer the transports (layer 2, beside them: the daemon's
SCTP adapter and the simulator's sockets both ask), and the name this node goes by."""

from __future__ import annotations

import socket

from eir.config import MqttConfig


def node_name(config: MqttConfig) -> str:
    """This node's name (events, MQTT client id, observations): ``mqtt.node``, else the host
    name's first label."""
    return config.node or socket.gethostname().split(".")[0] or "eir"


def sctp_unavailable() -> str | None:
    """Why SCTP sockets cannot be made here, or None when they can."""
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
    except OSError as exc:
        return f"this kernel has no SCTP ({exc.strerror}; try: modprobe sctp)"
    sock.close()
    try:
        import sctp  # noqa: F401
    except ImportError as exc:
        return f"pysctp cannot be imported: {exc}"
    return None
