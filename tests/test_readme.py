"""The README's results sections are runs' outputs, quoted verbatim, so they cannot drift."""

from __future__ import annotations

import re

from tests.support import REPO

START = re.compile(r"<!-- findings: (\S+) -->\n")
END = "<!-- /findings -->"


def test_readme_findings_are_the_committed_run_outputs() -> None:
    readme = (REPO / "README.md").read_text()
    matches = list(START.finditer(readme))
    assert matches, "README.md has no <!-- findings: <file> --> block"
    for match in matches:
        block = readme[match.end():readme.index(END, match.end())]
        source = REPO / match.group(1)
        assert source.is_file(), f"{source} (the run output the README quotes) is missing"
        assert block.strip() == source.read_text().strip(), match.group(1)
