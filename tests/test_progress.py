"""The progress line draws on a terminal and stays silent otherwise."""

from __future__ import annotations

import io

from tabship.contract.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_silent_when_not_a_terminal() -> None:
    stream = io.StringIO()
    with Progress("search", total=3, stream=stream) as progress:
        for _ in range(3):
            progress.advance()
    assert stream.getvalue() == ""


def test_draws_counts_on_a_terminal() -> None:
    stream = Terminal()
    with Progress("search", total=3, stream=stream) as progress:
        for _ in range(3):
            progress.advance()
    text = stream.getvalue()
    assert "search: 3/3" in text
    assert text.endswith("\n")
