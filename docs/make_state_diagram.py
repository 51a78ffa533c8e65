"""Print (or, with --write, update) the state diagram in docs/lifecycle.md.

The diagram is generated from ``sansio_auth.TRANSITIONS``, the one table the
session runs on, so the picture cannot drift from the code; a test checks
that the page holds exactly what this prints.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sansio_auth import TRANSITIONS

PAGE = Path(__file__).resolve().parent / "lifecycle.md"
BEGIN = "```mermaid\n"
END = "```\n"


def diagram() -> str:
    """The Mermaid state diagram of TRANSITIONS, one edge per row."""
    lines = ["stateDiagram-v2", "    [*] --> IDLE"]
    for (source, event), target in TRANSITIONS.items():
        lines.append(f"    {source.name} --> {target.name}: {event.value}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = diagram()
    if argv != ["--write"]:
        sys.stdout.write(text)
        return 0
    page = PAGE.read_text(encoding="utf-8")
    start = page.index(BEGIN) + len(BEGIN)
    end = page.index(END, start)
    PAGE.write_text(page[:start] + text + page[end:], encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
