#!/usr/bin/python3
"""The image as OCI content with no build time in it.

  tools/oci.py normalize SAVED.tar ARCH EPOCH OCI_DIR LOAD.tar TAG SBOM
  tools/oci.py index OCI_DIR VERSION ARCH...

normalize reads the `docker save` archive of the classic builder's image
(one layer: its files are dated EPOCH by the Dockerfile), stops unless its
binary and ip-ranges.json have the SHA256s the SBOM states, and writes the
image again with a config of its own: architecture ARCH, every created time
EPOCH, none of the builder's container fields.  Into the OCI image layout
OCI_DIR go the layer (uncompressed, as saved), the config and the manifest,
and OCI_DIR/ARCH.json, the manifest's descriptor; LOAD.tar is the same
image as a `docker load` archive named TAG, whose image ID is then the
config's digest.

index writes the image index of the ARCH images (each from a normalize
into OCI_DIR) and names it VERSION in OCI_DIR/index.json.

Exits 1 with a message naming the file on a bad input.
"""

import hashlib
import io
import json
import sys
import tarfile
import time
from pathlib import Path

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar"
ARCHES = ("amd64", "arm64")
# The builder's config fields that an image config keeps (OCI's and the
# Healthcheck Docker reads).
KEPT = ("User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes",
        "WorkingDir", "Labels", "StopSignal", "Healthcheck")


def fail(msg):
    sys.exit(f"oci.py: {msg}")


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def put_blob(oci, data):
    """Store data in the layout; return its digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = oci / "blobs" / "sha256" / digest[7:]
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(data)
    return digest


def layout(oci):
    oci.mkdir(parents=True, exist_ok=True)
    (oci / "oci-layout").write_bytes(canonical({"imageLayoutVersion": "1.0.0"}))


def read_saved(path):
    """(config dict, layer bytes) of a one-image, one-layer docker save."""
    try:
        tar = tarfile.open(path)
        manifest = json.load(tar.extractfile("manifest.json"))
    except (OSError, tarfile.TarError, KeyError, ValueError) as e:
        fail(f"{path}: not a docker save archive ({e})")
    if len(manifest) != 1 or len(manifest[0]["Layers"]) != 1:
        fail(f"{path}: want one image of one layer, got {manifest}")
    config = json.load(tar.extractfile(manifest[0]["Config"]))
    layer = tar.extractfile(manifest[0]["Layers"][0]).read()
    return config, layer


def new_config(saved, arch, created, diff_id):
    cfg = saved.get("config") or {}
    history = [{"created": created, "created_by": h.get("created_by", "")}
               | ({"empty_layer": True} if h.get("empty_layer") else {})
               for h in saved.get("history", [])]
    return {"architecture": arch, "os": "linux", "created": created,
            "config": {k: cfg[k] for k in KEPT if cfg.get(k)},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": history}


def sbom_hashes(path):
    """{file in the image: sha256} that the SBOM at ${path} states: the
    binary (a File) and the ip-ranges.json (a Package)."""
    sbom = json.loads(Path(path).read_text())
    want = {}

    def sha256(item):
        return next((c["checksumValue"] for c in item.get("checksums", [])
                     if c.get("algorithm") == "SHA256"), None)
    for f in sbom.get("files", []):
        if f.get("fileName") == "./ses-smtp-proxy":
            want["ses-smtp-proxy"] = sha256(f)
    for p in sbom.get("packages", []):
        if p.get("SPDXID") == "SPDXRef-Package-ip-ranges":
            want["etc/ses-smtp-proxy/ip-ranges.json"] = sha256(p)
    return want


def check_sbom(layer, sbom):
    """Stop unless the layer's files are the ones the SBOM hashes: the
    SBOM comes from one docker build, the image from another, and a cache
    miss between them (a newer toolchain) must not ship an SBOM of other
    bytes."""
    want = sbom_hashes(sbom)
    if set(want) != {"ses-smtp-proxy", "etc/ses-smtp-proxy/ip-ranges.json"} \
            or None in want.values():
        fail(f"{sbom}: no SHA256 of the binary and the ip-ranges.json")
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        got = {m.name.removeprefix("./"): hashlib.sha256(
            tar.extractfile(m).read()).hexdigest()
            for m in tar.getmembers() if m.isfile() and
            m.name.removeprefix("./") in want}
    for name, digest in want.items():
        if got.get(name) != digest:
            fail(f"{name} in the image has sha256 {got.get(name)}, the SBOM "
                 f"{sbom} says {digest}: the two builds differ")


def normalize(saved_tar, arch, epoch, oci, load_tar, tag, sbom):
    if arch not in ARCHES:
        fail(f"architecture {arch}: not one of {', '.join(ARCHES)}")
    saved, layer = read_saved(saved_tar)
    check_sbom(layer, sbom)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))
    layout(oci)
    layer_digest = put_blob(oci, layer)
    config = canonical(new_config(saved, arch, created, layer_digest))
    config_digest = put_blob(oci, config)
    manifest = canonical({
        "schemaVersion": 2, "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": config_digest,
                   "size": len(config)},
        "layers": [{"mediaType": MT_LAYER, "digest": layer_digest,
                    "size": len(layer)}]})
    desc = {"mediaType": MT_MANIFEST, "digest": put_blob(oci, manifest),
            "size": len(manifest),
            "platform": {"architecture": arch, "os": "linux"}}
    (oci / f"{arch}.json").write_bytes(canonical(desc))
    write_load_tar(load_tar, tag, config, config_digest, layer)
    print(f"oci.py: {arch} image {config_digest}, manifest {desc['digest']}")


def add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def write_load_tar(path, tag, config, config_digest, layer):
    if ":" not in tag.rsplit("/", 1)[-1]:
        tag += ":latest"  # docker load wants a tag
    cfg_name = config_digest[7:] + ".json"
    layer_name = hashlib.sha256(layer).hexdigest() + "/layer.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        add(tar, cfg_name, config)
        add(tar, layer_name, layer)
        add(tar, "manifest.json", canonical(
            [{"Config": cfg_name, "RepoTags": [tag], "Layers": [layer_name]}]))


def index(oci, version, arches):
    manifests = []
    for arch in arches:
        path = oci / f"{arch}.json"
        try:
            manifests.append(json.loads(path.read_bytes()))
        except (OSError, ValueError) as e:
            fail(f"{path}: no {arch} image in {oci} (make image ARCH={arch}): {e}")
    data = canonical({"schemaVersion": 2, "mediaType": MT_INDEX,
                      "manifests": manifests})
    digest = put_blob(oci, data)
    (oci / "index.json").write_bytes(canonical({
        "schemaVersion": 2, "mediaType": MT_INDEX,
        "manifests": [{"mediaType": MT_INDEX, "digest": digest,
                       "size": len(data), "annotations": {
                           "org.opencontainers.image.ref.name": version}}]}))
    print(f"oci.py: index {digest} of {' '.join(arches)}, named {version}")


def main(argv):
    if len(argv) == 8 and argv[0] == "normalize":
        normalize(argv[1], argv[2], argv[3], Path(argv[4]), argv[5], argv[6],
                  argv[7])
    elif len(argv) >= 4 and argv[0] == "index":
        index(Path(argv[1]), argv[2], argv[3:])
    else:
        fail("usage: oci.py normalize SAVED.tar ARCH EPOCH OCI_DIR LOAD.tar TAG"
             " SBOM | oci.py index OCI_DIR VERSION ARCH...")


if __name__ == "__main__":
    main(sys.argv[1:])
