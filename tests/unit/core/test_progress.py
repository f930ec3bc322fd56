"""The progress line of a load: reading, checking, writing, one ETA from the start."""

from __future__ import annotations

import io

from eir.progress import LoadProgress


def lines(stream: io.StringIO) -> list[str]:
    return [
        part.replace("\x1b[K", "")
        for part in stream.getvalue().replace("\r", "\n").splitlines()
        if part.strip("\x1b[K")
    ]


def test_a_load_line_covers_reading_checking_and_writing() -> None:
    stream = io.StringIO()
    progress = LoadProgress(1000, stream, force=True)
    progress.started -= 10  # ten seconds in
    progress.read(1000)
    assert progress.share() == 0.1
    progress._shown = 0.0  # past the throttle
    progress.checked(500)
    assert round(progress.share(), 3) == 0.325
    progress.writing(200)
    assert round(progress.share(), 3) == 0.55
    progress._shown = 0.0
    progress(100)
    progress(100)
    assert progress.share() == 1.0
    shown = lines(stream)
    assert (
        shown[0] == "reading [###                           ] 1,000/1,000 bytes, 10% done, ETA 90 s"
    )
    assert shown[1].startswith(
        "checking [#########                     ] 500/1,000 bytes, 32% done"
    )
    assert shown[-1] == (
        "writing [##############################] 200/200 rows, 100% done, ETA 0 s"
    )


def test_nothing_is_shown_off_a_terminal() -> None:
    stream = io.StringIO()
    progress = LoadProgress(10, stream)
    progress.read(10)
    progress.writing(1)
    progress(1)
    progress.close()
    assert stream.getvalue() == ""


def test_a_file_larger_than_on_disk_grows_the_total() -> None:
    """A gzip file: the bytes read (gunzipped) are more than its size on disk."""
    progress = LoadProgress(100, io.StringIO(), force=True)
    progress.read(300)
    assert progress.total_of == {"reading": 300, "checking": 300, "writing": 0}
    progress.checked(150)
    assert round(progress.share(), 3) == 0.325
