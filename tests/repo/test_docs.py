"""The documentation an Ansible user reads: a short README, a README per role whose minimal play Ansible accepts,
and relative links that lead somewhere."""

import re
import subprocess

import pytest
import yaml
from helpers import ANSIBLE_PLAYBOOK, COLLECTIONS, REPO, ansible_env

README_MAX_LINES = 120
ROLES = sorted(path.name for path in (REPO / "roles").iterdir() if path.is_dir())
DOCUMENTS = sorted(
    [REPO / "README.md", *(REPO / "docs").glob("*.md"), *(REPO / "roles").glob("*/README.md")],
    key=str,
)

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
YAML_BLOCK = re.compile(r"^```ya?ml[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")


def prose(text):
    """TEXT without its code blocks and code spans, where a link is an example, not a link."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def anchors(path):
    """The anchors a Markdown file has: its headings as GitHub names them, and its HTML anchors."""
    text = path.read_text()
    slugs = {
        re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in HEADING.findall(FENCE.sub("", text))
    }
    return slugs | set(HTML_ANCHOR.findall(text))


def relative_links():
    for document in DOCUMENTS:
        for target in LINK.findall(prose(document.read_text())):
            if not re.match(r"[a-z][a-z0-9+.-]*:", target):
                yield pytest.param(document, target, id=f"{document.relative_to(REPO)}->{target}")


def test_readme_is_short():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move the detail into a guide under docs/"
    )


def test_every_document_is_found():
    """The link checks below cover the README, the guides and every role's README."""
    assert REPO / "README.md" in DOCUMENTS
    assert len([d for d in DOCUMENTS if d.parent.parent.name == "roles"]) == len(ROLES)


@pytest.mark.parametrize(("document", "target"), list(relative_links()))
def test_relative_link_leads_somewhere(document, target):
    path, _hash, anchor = target.partition("#")
    destination = (document.parent / path).resolve() if path else document
    assert destination.exists(), f"{document.relative_to(REPO)}: link {target!r}: {path} does not exist"
    if anchor and destination.suffix == ".md":
        assert anchor in anchors(destination), f"{document.relative_to(REPO)}: link {target!r}: no such anchor"


@pytest.mark.parametrize("role", ROLES)
def test_role_readme(role, tmp_path):
    """Each role has a README saying where its variables are documented, whose first YAML block (a minimal play,
    or for an internal role the task that includes it) uses the role and passes Ansible's syntax check."""
    readme = REPO / "roles" / role / "README.md"
    assert readme.is_file(), f"roles/{role} has no README.md"
    text = readme.read_text()
    assert f"ansible-doc -t role tailnet.llm.{role}" in text, f"roles/{role}/README.md: no ansible-doc command"
    blocks = YAML_BLOCK.findall(text)
    assert blocks, f"roles/{role}/README.md has no ```yaml block with a minimal play"
    example = yaml.safe_load(blocks[0])
    assert f"tailnet.llm.{role}" in blocks[0], f"roles/{role}/README.md: its example does not use the role"
    plays = example if all("hosts" in item for item in example) else [{"name": role, "hosts": "all", "tasks": example}]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False))
    result = subprocess.run(
        [ANSIBLE_PLAYBOOK, "--syntax-check", "-i", "localhost,", playbook],
        env=ansible_env(ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"roles/{role}/README.md: its play fails the syntax check:\n{result.stderr}"
