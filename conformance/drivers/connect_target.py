"""The address and keywords of a ``connect`` step, for the CPython and the
Jython drivers (one code for Python 3 and Jython 2.7).

The step connects to engine ``index`` of the main server or, with
``"server": "tls"``, of the runner's TLS server (``tls``: a dict of its
``uri``, ``dir`` and ``pin``, from ``--tls-uri``/``--tls-dir``/``--tls-pin``;
see conformance/src/tls.rs): ``"tls_ca"`` names a file of its folder,
``"tls_pin": "server"`` is its fingerprint (other text: the pin itself),
``"plaintext": true`` turns ``srpys://`` into ``srpy://``; ``"token"``
replaces the server's token.
"""

import os


def connect_target(uri, token, tls, index, s):
    """(engine URI, PythonEngine keywords) of step ``s``; ValueError when it
    needs a TLS server that the runner did not start."""
    needs_tls = s.get("server") == "tls" or s.get("tls_pin") == "server" or "tls_ca" in s
    if needs_tls and tls is None:
        raise ValueError('no TLS server (the case must say "needs": ["tls"])')
    if s.get("server") == "tls":
        uri = tls["uri"]
    uri = "%s/%d" % (uri.rstrip("/"), index)
    if s.get("plaintext"):
        uri = uri.replace("srpys://", "srpy://", 1)
    kw = {"token": s.get("token") or token}
    if "tls_ca" in s:
        kw["tls_ca"] = os.path.join(tls["dir"], s["tls_ca"])
    if "tls_pin" in s:
        kw["tls_pin"] = tls["pin"] if s["tls_pin"] == "server" else s["tls_pin"]
    return uri, kw
