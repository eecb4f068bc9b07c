"""A container from the engine's list, without an inspect."""

from __future__ import annotations

from devbox.adapters.docker.containers import summary_of


def test_summary_of_a_list_entry() -> None:
    entry = {
        "Id": "abc123",
        "Names": ["/alice-main"],
        "Image": "devbox/dev:latest",
        "State": "running",
        "Status": "Up 3 minutes",
        "Created": 1767225600,  # 2026-01-01 00:00:00 UTC
        "Labels": {"devbox.role": "dev"},
    }
    st = summary_of(entry)
    assert (st.name, st.id, st.status, st.image) == (
        "alice-main",
        "abc123",
        "running",
        "devbox/dev:latest",
    )
    assert st.labels == {"devbox.role": "dev"}
    # the same text an inspect's "Created" gives, to the second (list-containers shows it)
    assert st.created == "2026-01-01T00:00:00Z"


def test_summary_of_an_entry_with_fields_missing() -> None:
    st = summary_of({"Id": "x", "Labels": None, "Names": None})
    assert (st.name, st.status, st.labels, st.image) == ("", "unknown", {}, "")
    assert st.created == "1970-01-01T00:00:00Z"
