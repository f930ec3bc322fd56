"""Run a command under a kernel that has SCTP: directly when this kernel has it, otherwise in
a small qemu virtual machine that boots the Debian kernel of ``linux-image-amd64``.

The guest's root is this machine's own filesystem, shared read-only over 9p (virtio), with an
overlay whose upper layer is tmpfs: the guest can write anywhere (its /tmp too, where the
host's files stay visible: a clone under /tmp works) and the host sees none of it.
So the guest runs the project's ``.venv`` as it is. A busybox initramfs (built here, cached
under ``var/vm/``) loads virtio, 9p, overlayfs and sctp, mounts everything, runs the command
from the project directory, prints its exit code on the serial console and powers off.

KVM is used only where the CPU shows ``vmx`` or ``svm``; elsewhere qemu emulates (TCG).

    python tests/vm/sctp_vm.py [--why] -- COMMAND...     exit code of COMMAND (77: cannot run)
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "var" / "vm"
CANNOT = 77  # the exit code for "cannot run here" (automake's convention for a skip)
EXIT_MARK = "EIR-VM-EXIT="
#: modules the initramfs loads, in dependency order (paths under /lib/modules/VERSION/kernel)
MODULES = (
    "drivers/virtio/virtio_ring",
    "drivers/virtio/virtio",
    "drivers/virtio/virtio_pci_legacy_dev",
    "drivers/virtio/virtio_pci_modern_dev",
    "drivers/virtio/virtio_pci",
    "fs/netfs/netfs",
    "fs/fscache/fscache",
    "net/9p/9pnet",
    "net/9p/9pnet_virtio",
    "fs/9p/9p",
    "fs/overlayfs/overlay",
    "crypto/crc32c_generic",
    "lib/libcrc32c",
    "net/ipv4/udp_tunnel",
    "net/ipv6/ip6_udp_tunnel",
    "net/sctp/sctp",
)

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.list); do insmod /modules/$m.ko || echo "vm: insmod $m failed"; done
cmd=$(sed -n 's/.*eir.cmd=\([^ ]*\).*/\1/p' /proc/cmdline)
mkdir -p /lower /upper /root
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose host /lower
mount -t tmpfs -o size=2g upper /upper
mkdir -p /upper/up /upper/work
mount -t overlay -o lowerdir=/lower,upperdir=/upper/up,workdir=/upper/work overlay /root
mount -t proc proc /root/proc
mount -t sysfs sys /root/sys
mount -t devtmpfs dev /root/dev
mkdir -p /root/dev/shm /root/dev/pts
mount -t tmpfs shm /root/dev/shm
mount -t devpts pts /root/dev/pts
ip link set lo up
hostname eir-vm
code=1
if [ -n "$cmd" ] && [ -f "/lower$cmd" ]; then
  chroot /root /bin/sh -c "cd \"\$(cat $cmd.dir)\" && exec /bin/sh $cmd" \
    </dev/null >/dev/console 2>&1
  code=$?
else
  echo "vm: no command script ($cmd)" >/dev/console
fi
echo "EIR-VM-EXIT=$code" >/dev/console
sync
poweroff -f
"""


def kernel_sctp() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP).close()
        return True
    except OSError:
        return False


def guest_kernel() -> tuple[Path, Path] | None:
    """(vmlinuz, modules directory) of an installed Debian kernel with the sctp module."""
    for vmlinuz in sorted(Path("/boot").glob("vmlinuz-*"), reverse=True):
        version = vmlinuz.name.removeprefix("vmlinuz-")
        modules = Path("/lib/modules") / version
        if (modules / "kernel/net/sctp/sctp.ko").exists() and os.access(vmlinuz, os.R_OK):
            return vmlinuz, modules
    return None


def why_not() -> str | None:
    """None when SCTP can be had (here or in a VM); else the reason, in one line."""
    if kernel_sctp():
        return None
    if shutil.which("qemu-system-x86_64") is None:
        return "no kernel SCTP here and no qemu-system-x86_64 (apt-get install qemu-system-x86)"
    if guest_kernel() is None:
        return "no kernel SCTP here and no guest kernel with sctp.ko (linux-image-amd64)"
    if not Path("/bin/busybox").exists():
        return "no kernel SCTP here and no /bin/busybox for the VM (busybox-static)"
    return None


def _cpio(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A newc cpio archive of (name, mode, data); directories have no data."""
    out = io.BytesIO()
    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], 1):
        encoded = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
        out.write(b"070701" + b"".join(b"%08X" % f for f in fields))
        out.write(encoded + b"\0" * (-(110 + len(encoded)) % 4))
        out.write(data + b"\0" * (-len(data) % 4))
    return out.getvalue()


def initramfs(modules: Path) -> Path:
    """Build (or reuse) the initramfs for this kernel."""
    files = [(m, modules / "kernel" / f"{m}.ko") for m in MODULES]
    busybox = Path("/bin/busybox").read_bytes()
    key = hashlib.sha256(INIT.encode() + busybox[:4096] + modules.name.encode()).hexdigest()[:16]
    target = CACHE / f"initramfs-{modules.name}-{key}.cpio.gz"
    if target.exists():
        return target
    directory = 0o040755
    entries: list[tuple[str, int, bytes]] = [
        (d, directory, b"")
        for d in (
            "bin",
            "dev",
            "proc",
            "sys",
            "modules",
            "lower",
            "upper",
            "root",
            "sbin",
            "usr",
            "usr/bin",
            "usr/sbin",
        )
    ]
    entries += [
        ("bin/busybox", 0o100755, busybox),
        ("init", 0o100755, INIT.encode()),
        (
            "modules.list",
            0o100644,
            "\n".join(m.replace("/", "_") for m, _ in files).encode() + b"\n",
        ),
    ]
    entries += [
        (f"modules/{m.replace('/', '_')}.ko", 0o100644, path.read_bytes()) for m, path in files
    ]
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".tmp")
    partial.write_bytes(gzip.compress(_cpio(entries), 6))
    partial.replace(target)
    return target


def accelerator() -> str:
    flags = Path("/proc/cpuinfo").read_text()
    if re.search(r"\b(vmx|svm)\b", flags) and os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "kvm"
    return "tcg,thread=multi"


def _relay(proc: subprocess.Popen[bytes], codes: list[int]) -> None:
    """The guest's console to our stdout, minus the exit-code line (kept in ``codes``)."""
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.decode(errors="replace").rstrip("\r\n")
        if line.startswith(EXIT_MARK):
            codes.append(int(line[len(EXIT_MARK) :] or "1"))
        elif line and not line.startswith(("\x1bc", "SeaBIOS", "Booting from ROM")):
            print(line, flush=True)


def run_in_vm(command: list[str], timeout: float, memory_mb: int = 3072) -> int:
    found = guest_kernel()
    assert found is not None
    vmlinuz, modules = found
    initrd = initramfs(modules)
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="run-", dir=CACHE) as folder:
        script = Path(folder) / "cmd.sh"
        script.write_text(
            "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:"
            "/bin\nexport HOME=/root EIR_IN_VM=1\n" + shlex.join(command) + "\n"
        )
        Path(f"{script}.dir").write_text(str(Path.cwd()))
        cpus = min(2, os.cpu_count() or 1)
        qemu = [
            "qemu-system-x86_64",
            "-accel",
            accelerator(),
            "-cpu",
            "max",
            "-m",
            str(memory_mb),
            "-smp",
            str(cpus),
            "-nographic",
            "-no-reboot",
            "-nodefaults",
            "-serial",
            "stdio",
            "-kernel",
            str(vmlinuz),
            "-initrd",
            str(initrd),
            "-append",
            f"console=ttyS0 quiet loglevel=3 panic=-1 eir.cmd={script}",
            "-fsdev",
            "local,id=host,path=/,security_model=none,readonly=on,multidevs=remap",
            "-device",
            "virtio-9p-pci,fsdev=host,mount_tag=host",
        ]
        started = time.monotonic()
        proc = subprocess.Popen(
            qemu, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        codes: list[int] = []
        reader = threading.Thread(target=_relay, args=(proc, codes), daemon=True)
        reader.start()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"sctp_vm: the VM did not finish in {timeout:.0f} s; stopped", file=sys.stderr)
            proc.kill()
            proc.wait()
        reader.join(5)
        code = codes[0] if codes else None
        took = time.monotonic() - started
        if code is None:
            print(f"sctp_vm: the VM ended without an exit code after {took:.0f} s", file=sys.stderr)
            return 1
        print(f"sctp_vm: the VM ran the command in {took:.0f} s, exit {code}", file=sys.stderr)
        return code


def main() -> int:
    parser = argparse.ArgumentParser(description="run a command where kernel SCTP works")
    parser.add_argument("--why", action="store_true", help="print why it cannot run, or ok")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("command", nargs="*")
    args = parser.parse_args()
    reason = why_not()
    if args.why:
        print(reason or ("kernel SCTP" if kernel_sctp() else "qemu VM"))
        return 0
    if reason is not None:
        print(f"SCTP tests skipped: {reason}", file=sys.stderr)
        return CANNOT
    if not args.command:
        parser.error("give the command after --")
    if kernel_sctp():
        return subprocess.call(args.command)
    return run_in_vm(args.command, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
