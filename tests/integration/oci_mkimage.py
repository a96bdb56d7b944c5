#!/usr/bin/env python3
"""Test images for tests/integration/oci.sh.

  oci_mkimage.py layers DIR     l1.tar (a busybox root with owners, modes,
                                links, an xattr, a device, a FIFO) and l2.tar (a whiteout, an
                                opaque directory, a new owned file) in DIR
  oci_mkimage.py extra LAYOUT   adds to an OCI layout (made by umoci) the
                                tag "zstd" (l1 as a zstd layer, l2 as a
                                plain tar) and the tag "multi": an image
                                index with linux/amd64 -> tag v1's manifest
                                and linux/arm64 -> tag zstd's
"""
import hashlib, io, json, os, subprocess, sys, tarfile

def add(t, name, typ=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, gid=0,
        link="", pax=None, dev=(0, 0)):
    ti = tarfile.TarInfo(name)
    ti.devmajor, ti.devminor = dev
    ti.type, ti.mode, ti.uid, ti.gid = typ, mode, uid, gid
    ti.mtime, ti.linkname = 1700000000, link
    if pax:
        ti.pax_headers = pax
    if typ == tarfile.REGTYPE:
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    else:
        t.addfile(ti)

def layers(d):
    with tarfile.open(d + "/l1.tar", "w", format=tarfile.PAX_FORMAT) as t:
        for x in ["bin", "etc", "opq", "del", "data", "tmp", "dev"]:
            add(t, x, tarfile.DIRTYPE, mode=0o755)
        add(t, "bin/busybox", data=open("/bin/busybox", "rb").read(), mode=0o755)
        add(t, "bin/sh", tarfile.SYMTYPE, link="busybox", mode=0o777)
        add(t, "bin/hl", tarfile.LNKTYPE, link="bin/busybox")
        add(t, "etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\n")
        add(t, "opq/a", data=b"a\n")
        add(t, "opq/b", data=b"b\n")
        add(t, "del/gone", data=b"x\n")
        add(t, "del/kept", data=b"y\n")
        add(t, "owned", data=b"o\n", mode=0o640, uid=1234, gid=5678)
        add(t, "suid", data=b"s\n", mode=0o4755)
        add(t, "link", tarfile.SYMTYPE, link="/etc/passwd", mode=0o777)
        add(t, "xattr", data=b"x\n", pax={"SCHILY.xattr.user.test": "hello"})
        add(t, "dev/null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3))
        add(t, "dev/fifo", tarfile.FIFOTYPE, mode=0o600)
    with tarfile.open(d + "/l2.tar", "w", format=tarfile.PAX_FORMAT) as t:
        add(t, "del/.wh.gone")
        add(t, "opq", tarfile.DIRTYPE, mode=0o755)
        add(t, "opq/.wh..wh..opq")
        add(t, "opq/new", data=b"new\n")
        add(t, "data/file", data=b"d\n", uid=100, gid=100, mode=0o600)

def sha(b):
    return hashlib.sha256(b).hexdigest()

def put(lay, b):
    open("%s/blobs/sha256/%s" % (lay, sha(b)), "wb").write(b)
    return {"digest": "sha256:" + sha(b), "size": len(b)}

def extra(lay):
    d = os.path.dirname(os.path.abspath(lay))
    l1 = open(d + "/l1.tar", "rb").read()
    l2 = open(d + "/l2.tar", "rb").read()
    z1 = subprocess.run(["zstd", "-q", "-c"], input=l1, stdout=subprocess.PIPE,
                        check=True).stdout
    idx = json.load(open(lay + "/index.json"))
    v1 = [m for m in idx["manifests"]
          if m["annotations"]["org.opencontainers.image.ref.name"] == "v1"][0]
    cfg = {"architecture": "arm64", "os": "linux",
           "created": "2024-01-02T03:04:05Z",
           "config": {"Cmd": ["/bin/sh"], "Env": ["ZSTD=1"]},
           "rootfs": {"type": "layers",
                      "diff_ids": ["sha256:" + sha(l1), "sha256:" + sha(l2)]}}
    c = put(lay, json.dumps(cfg).encode())
    man = {"schemaVersion": 2,
           "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": dict(c, mediaType="application/vnd.oci.image.config.v1+json"),
           "layers": [dict(put(lay, z1),
                           mediaType="application/vnd.oci.image.layer.v1.tar+zstd"),
                      dict(put(lay, l2),
                           mediaType="application/vnd.oci.image.layer.v1.tar")]}
    m = dict(put(lay, json.dumps(man).encode()),
             mediaType="application/vnd.oci.image.manifest.v1+json")
    index = {"schemaVersion": 2,
             "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [
                 dict(v1, platform={"os": "linux", "architecture": "amd64"},
                      annotations={}),
                 dict(m, platform={"os": "linux", "architecture": "arm64"})]}
    i = dict(put(lay, json.dumps(index).encode()),
             mediaType="application/vnd.oci.image.index.v1+json")
    ref = "org.opencontainers.image.ref.name"
    idx["manifests"] += [dict(m, annotations={ref: "zstd"}),
                         dict(i, annotations={ref: "multi"})]
    json.dump(idx, open(lay + "/index.json", "w"))

{"layers": layers, "extra": extra}[sys.argv[1]](sys.argv[2])
