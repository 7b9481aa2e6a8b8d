"""The docs sample reader: which blocks are samples, and what the markers do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.samples import MarkerError, samples

PAGE = """# A page

```python
a = 1
```

<!-- sample: continues -->
```python
b = a + 1
```

<!-- sample: skip (needs a real Okta tenant) -->
```python
okta()
```

<!-- sample: module acme_mod -->
```python
X = 1
```

```yaml
profiles: {}
```

- a list item:

  ```yaml
  version: 1
  profiles: {}
  ```

```sh
tokenrack token billing
```

<!-- sample: raises ConfigError -->
```yaml
version: 1
profiles: {billing: {provider: generic}}
```
"""


def test_blocks_markers_and_whole_configs(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    found = samples(page)
    assert [s.id for s in found] == [
        "page.md:3",
        "page.md:13",
        "page.md:18",
        "page.md:28",
        "page.md:38",
    ]
    chained, skipped, module, config, invalid = found
    assert invalid.first.raises == "ConfigError"
    assert [b.code for b in chained.blocks] == ["a = 1\n", "b = a + 1\n"]
    assert skipped.first.skip == "needs a real Okta tenant"
    assert module.first.module == "acme_mod"
    assert config.first.lang == "yaml" and config.first.code.startswith("version: 1")


@pytest.mark.parametrize(
    "marker", ["<!-- sample: skip -->", "<!-- sample: skip () -->", "<!-- sample: sikp (x) -->"]
)
def test_a_skip_without_reason_or_an_unknown_marker_is_an_error(
    tmp_path: Path, marker: str
) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"{marker}\n```python\npass\n```\n")
    with pytest.raises(MarkerError, match=r"page.md:2: unknown marker"):
        samples(page)


def test_continues_needs_a_python_sample_before_it(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- sample: continues -->\n```python\npass\n```\n")
    with pytest.raises(MarkerError, match="no python sample before it"):
        samples(page)


SHELL_PAGE = """# Shell and fragments

```sh
tokenrack token billing
```

<!-- sample: exit 2 -->
```console
$ tokenrack
usage: tokenrack …
```

```yaml
billing: {provider: generic}
```

<!-- sample: other (a kubeconfig, not a tokenrack config) -->
```yaml
- name: robot
```

```text
$ tokenrack profiles
```
"""


def test_shell_blocks_and_fragments_are_samples_only_where_a_page_asks(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(SHELL_PAGE)
    assert samples(page) == []
    found = samples(page, shell=True, fragments=True)
    assert [(s.id, s.kind) for s in found] == [
        ("page.md:3", "shell"),
        ("page.md:8", "shell"),
        ("page.md:13", "fragment"),
        ("page.md:18", "fragment"),
    ]
    plain, prompted, _, other = found
    assert (plain.first.exit, plain.first.commands) == (0, "tokenrack token billing\n")
    # Only the $ lines run; the lines after them are the output the page shows.
    assert (prompted.first.exit, prompted.first.commands) == (2, "tokenrack\n")
    assert other.first.other == "a kubeconfig, not a tokenrack config"


def test_a_yaml_block_that_is_not_a_mapping_needs_a_marker(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```yaml\n- name: robot\n```\n")
    assert samples(page) == []  # a page that does not ask for fragments
    with pytest.raises(MarkerError, match=r"page.md:1: a yaml block .* has no outcome"):
        samples(page, fragments=True)


@pytest.mark.parametrize("marker", ["<!-- sample: exit -->", "<!-- sample: other -->"])
def test_exit_needs_a_status_and_other_a_description(tmp_path: Path, marker: str) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"{marker}\n```sh\ntrue\n```\n")
    with pytest.raises(MarkerError, match="unknown marker"):
        samples(page, shell=True)
