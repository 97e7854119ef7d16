"""One version: the VERSION file.  The Makefile builds it into the binary,
make image passes it to the Dockerfile (whose default must agree, for a
plain docker build), and the builder stage stops on a mismatch."""

import re
import subprocess

import pytest

import deploylib as d


@pytest.fixture(scope="module")
def version():
    v = (d.REPO / "VERSION").read_text(encoding="utf-8")
    assert re.fullmatch(r"\d+\.\d+\.\d+\n", v), repr(v)
    return v.strip()


def _make(*args):
    return subprocess.run(["make", "-s", "--no-print-directory", "-C",
                           str(d.REPO), *args], capture_output=True,
                          text=True, timeout=60, check=True).stdout


def test_makefile_reads_the_file(version):
    out = _make("--eval=print-version: ; @echo $(VERSION)", "print-version")
    assert out.strip() == version


def test_make_image_passes_it(version):
    out = _make("-n", "image")
    assert f"--build-arg VERSION={version}" in out.replace("\\\n", " ")


def test_dockerfile_default_and_check(version):
    text = (d.REPO / "Dockerfile").read_text(encoding="utf-8")
    defaults = re.findall(r"^ARG VERSION=(\S+)$", text, re.M)
    assert defaults == [version]
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) == 2
    build, final = stages
    assert re.search(r"^ARG VERSION$", build, re.M)
    assert '"$(./ses-smtp-proxy --version)" = "ses-smtp-proxy $VERSION"' \
        in build
    assert re.search(r"^ARG VERSION$", final, re.M)
    assert 'org.opencontainers.image.version="${VERSION}"' in final


def test_binary_version(version):
    path = d.binary_path()
    if not path.exists():
        pytest.fail(f"{path} is not built: run make first")
    out = subprocess.run([str(path), "--version"], capture_output=True,
                         text=True, timeout=10, check=True).stdout
    assert out == f"ses-smtp-proxy {version}\n"


def test_deploy_files_use_it(version, k8s):
    kust = d.load_kustomization()
    assert [i["newTag"] for i in kust["images"]] == [version]
    image = d.k8s_container(k8s)["image"]
    assert image.endswith(f":{version}")
    readme = d.DEPLOY_README.read_text(encoding="utf-8")
    tags = re.findall(r"ses-smtp-proxy:(\d+\.\d+\.\d+)", readme)
    assert tags and set(tags) == {version}


def test_changelog_starts_with_it(version):
    """The newest CHANGELOG.md entry is the version being built."""
    text = (d.REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    entries = re.findall(r"^## (\d+\.\d+\.\d+)\b", text, re.M)
    assert entries and entries[0] == version, entries


def test_license_is_bsd_2_clause():
    text = (d.REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("BSD 2-Clause License\n")
