"""A mkdocs hook: the site serves its own copy of Mermaid, so diagrams draw offline.

Material draws ```mermaid blocks with Mermaid, which it loads from unpkg.com in the
reader's browser unless a global ``mermaid`` already exists. ``make docs`` fetches a pinned
``mermaid.min.js`` into ``.venv/share/mermaid/<version>/``; this hook publishes it as
``assets/vendor/mermaid.min.js`` and loads it, before material's bundle, on the pages that
have a diagram (it is 2.7 MB, so only there). Without the file (no npm) nothing changes
and material's CDN loading applies.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

PUBLISHED = "assets/vendor/mermaid.min.js"
_BUNDLE = re.compile(r'<script src="([^"]*?)assets/javascripts/bundle\.')


def local_mermaid(config: MkDocsConfig) -> Path | None:
    """The fetched ``mermaid.min.js`` (the newest version there), or None."""
    root = Path(config.config_file_path).resolve().parent
    found = sorted((root / ".venv" / "share" / "mermaid").glob("*/mermaid.min.js"))
    return found[-1] if found else None


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Publish the local Mermaid with the site (the mkdocs ``on_files`` event)."""
    source = local_mermaid(config)
    if source is not None:
        files.append(File.generated(config, PUBLISHED, abs_src_path=str(source)))
    return files


def on_post_page(output: str, config: MkDocsConfig, **_: Any) -> str:
    """Load the local Mermaid before material's bundle on pages with a diagram."""
    if 'class="mermaid"' not in output or local_mermaid(config) is None:
        return output
    bundle = _BUNDLE.search(output)
    if bundle is None:
        return output
    prefix = bundle.group(1)  # the page's relative way to the site root, as material wrote it
    tag = f'<script src="{prefix}{PUBLISHED}"></script>\n'
    return output[: bundle.start()] + tag + output[bundle.start() :]
