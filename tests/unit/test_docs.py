"""Docs that must not drift from the code."""

from pathlib import Path

from dirkit import _cli_reference as cli_reference

REPO = Path(__file__).resolve().parents[2]


def test_cli_reference_is_current() -> None:
    assert (REPO / "docs" / "cli.md").read_text() == cli_reference.render(), (
        "docs/cli.md is stale: run `python -m dirkit._cli_reference > docs/cli.md`"
    )


def test_json_docs_list_every_run_outcome() -> None:
    text = (REPO / "docs" / "json.md").read_text()
    for outcome in ("applied", "no-changes", "dry-run", "threshold", "partial", "failed", "running", "interrupted"):
        assert f"`{outcome}`" in text, outcome
