"""Render every configured document into an output directory, as part of `dirkit sync`.

Only files whose content changed are rewritten (atomically: temp file + rename), so a re-run
with no change leaves every file byte-identical and untouched. Secrets are never rendered:
the Kerberos attributes (which carry passwords) are not among these files.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import hadoop, hue
from .config import Config
from .directory.model import Directory
from .emr import documents as emr_docs


@dataclass(frozen=True)
class FileChange:
    name: str
    status: str  # new | changed | unchanged

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status}


def render_all(cfg: Config, directory: Directory | None) -> dict[str, str]:
    """File name -> content for each document the config has a section for."""
    docs: dict[str, str] = {}
    if cfg.emr is not None:
        docs["emr-security-configuration.json"] = emr_docs.dumps(emr_docs.security_configuration(cfg))
        if cfg.emr.role_mappings:
            docs["emr-iam.json"] = emr_docs.dumps(emr_docs.iam_documents(cfg))
    if cfg.hue is not None:
        docs["hue.ini"] = hue.render_ini(cfg, directory)
        docs["hue-ini-classification.json"] = emr_docs.dumps(hue.render_classification(cfg, directory))
    if cfg.hadoop is not None:
        docs["core-site.xml"] = hadoop.render_xml(cfg, directory)
        docs["core-site-classification.json"] = emr_docs.dumps(hadoop.render_classification(cfg, directory))
    return docs


def compare(out_dir: Path, docs: dict[str, str]) -> list[FileChange]:
    changes = []
    for name, content in sorted(docs.items()):
        f = out_dir / name
        if not f.exists():
            changes.append(FileChange(name, "new"))
        elif f.read_text(encoding="utf-8") != content:
            changes.append(FileChange(name, "changed"))
        else:
            changes.append(FileChange(name, "unchanged"))
    return changes


def write_file(path: Path, content: str) -> None:
    """Replace ``path`` atomically (temp file in the same directory + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write(out_dir: Path, docs: dict[str, str], changes: list[FileChange]) -> None:
    """Write the documents that are new or changed; leave unchanged ones untouched."""
    for c in changes:
        if c.status != "unchanged":
            write_file(out_dir / c.name, docs[c.name])
