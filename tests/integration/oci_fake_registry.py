#!/usr/bin/env python3
"""A tiny, deliberately faulty registry for tests/integration/oci.sh.

Serves the distribution API v2 read side on 127.0.0.1 (port 0: the port is
written to the file named by argv[1]). Each repository is one scenario:
  good        a valid one-layer image (reachable only with a token from
              /token, which wants basic auth user:secret: the token dance)
  baddigest   a layer whose bytes do not match its digest
  dotdot      a layer with the entry ../../x
  absolute    a layer with the entry /abs-x
  symlink     a layer with link -> /tmp, then link/escaped
  whsymlink   link -> /tmp, then a layer deleting link/x (a whiteout)
  malformed   manifest that is not JSON
  huge        manifest claiming 1 GB (Content-Length), then nothing
  drop        a layer cut off half way (connection closed)
  schema1     a schema 1 manifest
  armonly     an index with linux/arm64 only
anything else: 404 MANIFEST_UNKNOWN.
"""
import base64, gzip, hashlib, io, json, sys, tarfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

def tar(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, val in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            if kind == "f":
                ti.size = len(val)
                t.addfile(ti, io.BytesIO(val))
            elif kind == "l":
                ti.type, ti.linkname = tarfile.SYMTYPE, val
                t.addfile(ti)
            else:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
    return gzip.compress(buf.getvalue(), mtime=0)

def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()

BLOBS = {}

def blob(b):
    BLOBS[sha(b)] = b
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": sha(b), "size": len(b)}

CONFIG = json.dumps({"architecture": "amd64", "os": "linux",
                     "config": {"Cmd": ["/bin/sh"]},
                     "rootfs": {"type": "layers", "diff_ids": []}}).encode()

def manifest(layers):
    return json.dumps({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(blob(CONFIG),
                       mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": layers}).encode()

GOOD = tar([("etc", "d", None), ("etc/hello", "f", b"hi\n")])
good_layer = blob(GOOD)
bad = dict(blob(tar([("a", "f", b"real\n")])))
BLOBS[bad["digest"]] = tar([("a", "f", b"EVIL\n")])
bad["size"] = len(BLOBS[bad["digest"]])
drop = blob(tar([("big", "f", bytes(range(256)) * 4096)]))

MANIFESTS = {
    "good": manifest([good_layer]),
    "baddigest": manifest([good_layer, bad]),
    "dotdot": manifest([blob(tar([("../../x", "f", b"x\n")]))]),
    "absolute": manifest([blob(tar([("/abs-x", "f", b"x\n")]))]),
    "symlink": manifest([blob(tar([("link", "l", "/tmp"),
                                   ("link/escaped", "f", b"x\n")]))]),
    "whsymlink": manifest([blob(tar([("link", "l", "/tmp")])),
                           blob(tar([("link/.wh.x", "f", b"")]))]),
    "drop": manifest([good_layer, drop]),
    "malformed": b'{"schemaVersion": 2, "layers": [',
    "schema1": json.dumps({"schemaVersion": 1, "name": "schema1",
                           "tag": "v1", "fsLayers": []}).encode(),
    "armonly": json.dumps({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": sha(b"x"), "size": 1,
                       "platform": {"os": "linux", "architecture": "arm64"}}]}).encode(),
}
CTYPES = {"schema1": "application/vnd.docker.distribution.manifest.v1+prettyjws",
          "armonly": "application/vnd.oci.image.index.v1+json",
          "malformed": "application/vnd.oci.image.manifest.v1+json"}
TOKEN = "tok-123"

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, body=b"", ctype="application/json", extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def err(self, code, what, msg):
        self.send(code, json.dumps({"errors": [{"code": what, "message": msg}]}).encode())

    def token(self):
        want = "Basic " + base64.b64encode(b"user:secret").decode()
        if self.headers.get("Authorization") != want:
            return self.err(401, "UNAUTHORIZED", "bad credentials")
        self.send(200, json.dumps({"token": TOKEN}).encode())

    def do_GET(self):
        p = self.path.split("?")[0]
        if p == "/token":
            return self.token()
        if p == "/v2/":
            return self.send(200, b"{}")
        parts = p.split("/")  # '', v2, repo..., kind, ref
        if len(parts) < 5:
            return self.err(404, "NAME_UNKNOWN", "no such repository")
        repo, kind, ref = "/".join(parts[2:-2]), parts[-2], parts[-1]
        if repo == "good" and self.headers.get("Authorization") != "Bearer " + TOKEN:
            host = self.headers.get("Host")
            return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', extra={
                "WWW-Authenticate": 'Bearer realm="http://%s/token",service="fake",'
                                    'scope="repository:good:pull"' % host})
        if kind == "manifests":
            return self.manifest(repo)
        if kind == "blobs" and ref in BLOBS:
            return self.blob(repo, ref)
        self.err(404, "BLOB_UNKNOWN", "blob unknown to registry")

    def manifest(self, repo):
        if repo == "huge":
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Content-Length", str(1 << 30))
            self.end_headers()
            self.wfile.write(b"{" * 1000)
            self.close_connection = True
            return
        if repo not in MANIFESTS:
            return self.err(404, "MANIFEST_UNKNOWN", "manifest unknown")
        self.send(200, MANIFESTS[repo], CTYPES.get(repo,
                  "application/vnd.oci.image.manifest.v1+json"))

    def blob(self, repo, ref):
        b = BLOBS[ref]
        if repo == "drop" and ref == drop["digest"]:
            self.send_response(200)
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b[: len(b) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.send(200, b, "application/octet-stream")

srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
