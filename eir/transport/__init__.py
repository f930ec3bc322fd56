"""asyncio adapters: sockets (TCP, SCTP) <-> the sans-IO protocol cores."""
