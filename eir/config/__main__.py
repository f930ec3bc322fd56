"""``python -m eir.config toml|markdown``: print ``conf/eir.toml`` or ``docs/configuration.md``
as the key declarations make them.

Layer 0: standard library only.
"""

from __future__ import annotations

import sys

from eir.config.render import documented_toml, markdown


def main(argv: list[str]) -> int:
    makers = {"toml": documented_toml, "markdown": markdown}
    if len(argv) != 1 or argv[0] not in makers:
        print("usage: python -m eir.config toml|markdown", file=sys.stderr)
        return 2
    sys.stdout.write(makers[argv[0]]())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
