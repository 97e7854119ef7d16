"""Supply chain (issue 19): the image of each architecture from the one
Dockerfile, their multi-arch index pushed to a loopback registry and each
image pulled back by digest, the SPDX 2.3 SBOM of each image, and
`make reproduce`.

amd64 is the image run.sh built (make image).  arm64 is built here with
make image ARCH=arm64 (the build stage cross-compiles it).  The registry is Debian's
docker-registry on 127.0.0.1; no byte leaves loopback (the builds' apt-get
aside, as in every image build)."""

import hashlib
import json
import re
import subprocess
import sys

import pytest

import ctr
from ctr import REPO, RUN_ID

sys.path.insert(0, str(REPO / "tools"))
from oci import ARCHES  # noqa: E402  the architectures of the image
# ELF e_machine of each architecture's binary.
E_MACHINE = {"amd64": 62, "arm64": 183}
BUILD = REPO / "build"
SCHEMA = REPO / "tests" / "data" / "spdx-2.3-schema.json"
BINARY = "ses-smtp-proxy"
RANGES = "etc/ses-smtp-proxy/ip-ranges.json"
SES_HOST = f"--add-host {ctr.SES}:127.0.0.1"


def run(*cmd, timeout=600, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True,
                          text=True, timeout=timeout, **kw)


@pytest.fixture(scope="module")
def arches():
    """Every architecture of the image: each is built and checked."""
    return list(ARCHES)


@pytest.fixture(scope="module")
def images(image, arches):
    """arch -> local image name, for each architecture this tree builds."""
    names = {"amd64": image}
    for arch in arches:
        if arch in names:
            continue
        name = f"{image.split(':')[0]}:{arch}-{RUN_ID[:8]}"
        out = run("make", "-C", REPO, "image", f"ARCH={arch}",
                  f"IMAGE={name}", f"DOCKER_BUILD_FLAGS={SES_HOST}",
                  timeout=1800)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        names[arch] = name
    yield names
    for arch, name in names.items():
        if name != image:
            ctr.docker("rmi", name, check=False)


@pytest.fixture(params=ARCHES)
def arch(request):
    return request.param


def build_image(name, arch):
    """The build stage that tools/image.sh keeps beside each image."""
    return f"{name.split(':')[0]}-build:{arch}"


def files_of(image):
    return {m.name.removeprefix("./"): data
            for m, data in ctr.saved_layers(image)}


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# ---- the index in a registry, each image pulled back by digest ----

@pytest.fixture(scope="module")
def pushed(images, arches, tmp_path_factory):
    """(registry repository, index from the registry) after make push of
    the index of every buildable architecture."""
    reg = ctr.Registry(tmp_path_factory.mktemp("registry"))
    try:
        out = run("make", "-C", REPO, "push", f"ARCHES={' '.join(arches)}",
                  f"REGISTRY={reg.addr}", "SKOPEO_FLAGS=--dest-tls-verify=false",
                  timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
        version = (REPO / "VERSION").read_text().strip()
        repo = f"{reg.addr}/ses-smtp-proxy"
        raw = run("skopeo", "inspect", "--raw", "--tls-verify=false",
                  f"docker://{repo}:{version}", check=True, timeout=60)
        yield repo, json.loads(raw.stdout)
    finally:
        reg.stop()


def test_index_names_each_image_with_its_platform(pushed, arch):
    _, index = pushed
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    local = json.loads((BUILD / "oci" / f"{arch}.json").read_text())
    mine = [m for m in index["manifests"]
            if m["platform"] == {"architecture": arch, "os": "linux"}]
    assert [m["digest"] for m in mine] == [local["digest"]]


def test_pulled_by_digest_is_that_platforms_image(pushed, images, arch):
    """The registry's image is the local one (same image ID), its config
    says the architecture, and its binary's ELF machine is that one's."""
    repo, index = pushed
    digest = next(m["digest"] for m in index["manifests"]
                  if m["platform"]["architecture"] == arch)
    ref = f"{repo}@{digest}"
    ctr.docker("pull", "--platform", f"linux/{arch}", ref, timeout=300)
    try:
        pulled = ctr.inspect(ref, kind="image")
        assert pulled["Architecture"] == arch
        assert pulled["Os"] == "linux"
        assert pulled["Id"] == ctr.inspect(images[arch], kind="image")["Id"]
        elf = files_of(ref)[BINARY]
        assert elf[:4] == b"\x7fELF"
        assert int.from_bytes(elf[18:20], "little") == E_MACHINE[arch]
    finally:
        ctr.docker("rmi", ref, check=False)


# ---- the SBOM ----

@pytest.fixture
def sbom(arch, images):
    path = BUILD / f"sbom-{arch}.spdx.json"
    return path, json.loads(path.read_bytes())


def test_sbom_is_valid_spdx_2_3(sbom):
    import jsonschema
    _, doc = sbom
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    assert doc["spdxVersion"] == "SPDX-2.3"


def test_sbom_is_the_one_the_image_label_names(sbom, images, arch):
    path, _ = sbom
    labels = ctr.inspect(images[arch], kind="image")["Config"]["Labels"]
    assert labels["org.ses-smtp-proxy.sbom.sha256"] == \
        sha256(path.read_bytes())


def test_sbom_names_the_files_of_the_image(sbom, images, arch):
    """The binary's sha256, and the ranges file's sha256, syncToken and
    createDate, are those of the files in the image."""
    _, doc = sbom
    files = files_of(images[arch])
    (binary,) = doc["files"]
    assert binary["fileName"] == f"./{BINARY}"
    sums = {c["algorithm"]: c["checksumValue"] for c in binary["checksums"]}
    assert sums["SHA256"] == sha256(files[BINARY])
    ranges = next(p for p in doc["packages"] if p["name"] == "aws-ip-ranges")
    data = files[RANGES]
    head = json.loads(data)
    assert ranges["checksums"] == [{"algorithm": "SHA256",
                                    "checksumValue": sha256(data)}]
    assert ranges["versionInfo"] == head["syncToken"]
    assert f"createDate {head['createDate']}" in ranges["comment"]
    d, t = head["createDate"][:10], head["createDate"][11:].replace("-", ":")
    assert ranges["releaseDate"] == f"{d}T{t}Z"


def test_image_is_refused_when_its_files_are_not_the_sboms(sbom, images,
                                                          arch, tmp_path):
    """tools/oci.py normalize (the last step of make image) stops when the
    layer's binary is not the one the SBOM hashes: the SBOM and the image
    come from two docker builds, which must have made the same bytes."""
    path, doc = sbom
    archive = tmp_path / "image.tar"
    archive.write_bytes(subprocess.run(
        ["docker", "save", images[arch] if ":" in images[arch]
         else images[arch] + ":latest"], check=True, capture_output=True,
        timeout=120).stdout)
    tool = REPO / "tools" / "oci.py"

    def normalize(sbom_path):
        return run("/usr/bin/python3", tool, "normalize", archive, arch, "0",
                   tmp_path / "oci", tmp_path / "load.tar", "x:y", sbom_path)
    ok = normalize(path)
    assert ok.returncode == 0, ok.stderr
    for f in doc["files"]:
        if f["fileName"] == "./ses-smtp-proxy":
            for c in f["checksums"]:
                if c["algorithm"] == "SHA256":
                    c["checksumValue"] = "0" * 64
    other = tmp_path / "other.spdx.json"
    other.write_text(json.dumps(doc))
    bad = normalize(other)
    assert bad.returncode == 1 and "the two builds differ" in bad.stderr, \
        bad.stderr


def test_sbom_versions_are_the_builders_packages(sbom, images, arch):
    """Every Debian package the SBOM names has the version dpkg-query gives
    in the builder image; the compiler, musl, libgcc and libseccomp are
    there, and the base's Debian version is the builder's."""
    _, doc = sbom
    builder = build_image(images[arch], arch)
    debs = {}
    for p in doc["packages"]:
        for ref in p.get("externalRefs", []):
            m = re.fullmatch(r"pkg:deb/debian/([^@]+)@([^?]+)\?arch=(\w+)&.*",
                             ref["referenceLocator"])
            if m:
                assert m.group(1) == p["name"] and m.group(2) == p["versionInfo"]
                debs[f"{m.group(1)}:{m.group(3)}"] = p["versionInfo"]
    query = ctr.docker("run", "--rm", "--network", "none", "--entrypoint",
                       "dpkg-query", builder, "-W",
                       "-f", "${Package}:${Architecture} ${Version}\\n",
                       *debs, timeout=120)
    assert dict(line.split() for line in query.stdout.splitlines()) == debs
    names = " ".join(debs)
    want_musl = "musl-dev:" + arch
    assert want_musl in debs, names
    assert re.search(r"\blibgcc-\d+-dev(-arm64-cross)?:", names), names
    assert re.search(r"\bgcc-\d+(-aarch64-linux-gnu)?:", names), names
    assert re.search(r"\blibseccomp2:", names), names
    base = next(p for p in doc["packages"]
                if p["SPDXID"] == "SPDXRef-Package-builder-base")
    debver = ctr.docker("run", "--rm", "--network", "none", "--entrypoint",
                        "cat", builder, "/etc/debian_version").stdout.strip()
    assert base["versionInfo"] == debver
    assert base["name"] == "debian:bookworm-slim"


# ---- make reproduce ----

@pytest.mark.slow
def test_make_reproduce_builds_the_same_bytes_twice(arches):
    out = run("make", "-C", REPO, "reproduce", timeout=3600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-6000:]
    assert "reproduce: the two builds are the same bytes" in log
    assert "reproduce: same host binary" in log
    for arch in arches:
        for what in ("binary", "layer", "image config", "SBOM", "manifest"):
            assert f"reproduce: same {arch} {what}" in log, log[-3000:]
    assert f"reproduce: same index ({' '.join(arches)})" in log
