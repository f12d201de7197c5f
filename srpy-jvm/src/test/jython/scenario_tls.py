# TLS through the Jython module: servers of its own (srpy.local with
# server_args and the tls_* keywords), verified by pin and by CA, with
# mutual TLS and the errors.
# Run: java -cp jython-standalone.jar:srpy.jar org.python.util.jython scenario_tls.py srpy://host:port CERT_DIR
# CERT_DIR holds ca.pem, server.pem/.key (127.0.0.1), client.pem/.key and
# other-ca.pem (JythonIT makes them with TestPki).
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, raises, report

import srpy

plain_server = sys.argv[1]
certs = sys.argv[2]
token = os.environ["SRPY_TOKEN"]


def cert(name):
    return os.path.join(certs, name)


WRONG_PIN = ":".join(["AB"] * 32)
auto = srpy.local(1, server_args=["--tls", "auto"])
client_options = dict(tls_ca=cert("ca.pem"), tls_cert=cert("client.pem"), tls_key=cert("client.key"),
                      connect_timeout=5)
mutual = srpy.local(1, server_args=["--tls-cert", cert("server.pem"), "--tls-key", cert("server.key"),
                                    "--tls-client-ca", cert("ca.pem")], **client_options)
pin = auto.server.getTlsPin()
mutual_options = dict(client_options, token=mutual.token)


@check
def local_pins_its_own_server():
    assert auto.uri.startswith("srpys://"), auto.uri
    assert pin.startswith("sha256:"), pin
    assert auto[0].eval("6 * 7") == 42


@check
def connect_by_pin_engine_and_box():
    eng = srpy.PythonEngine(auto.uri + "/0", token=auto.token, tls_pin=pin)
    try:
        blob = bytearray(range(256)) * 64
        eng.set(blob=blob)
        assert eng.get("blob") == str(blob)
    finally:
        eng.close()
    box = srpy.EngBox([auto.uri], token=auto.token, tls_pin=pin)
    try:
        assert len(box) == 1
        assert box.mrs.eval("1 + 1").values() == [2]
    finally:
        box.close()


@check
def wrong_pin_names_both_fingerprints():
    e = raises(srpy.AuthError, srpy.PythonEngine, auto.uri + "/0", token=auto.token, tls_pin=WRONG_PIN,
               connect_timeout=5)
    message = str(e)
    assert "does not match the pinned fingerprint" in message, message
    assert WRONG_PIN in message and pin[len("sha256:"):] in message, message


@check
def plaintext_client_is_told_the_server_wants_tls():
    plain = auto.uri.replace("srpys://", "srpy://") + "/0"
    e = raises(srpy.ProtocolError, srpy.PythonEngine, plain, token=auto.token, connect_timeout=5)
    assert "this server requires TLS" in str(e), str(e)


@check
def tls_client_of_a_plaintext_server_is_told_so():
    e = raises(srpy.ProtocolError, srpy.PythonEngine, plain_server + "/0", token=token, tls_pin=WRONG_PIN,
               connect_timeout=5)
    assert "did not answer in TLS" in str(e), str(e)


@check
def mutual_tls_by_ca_with_a_client_certificate():
    assert mutual[0].eval("6 * 7") == 42, "local() connected with the client certificate"
    eng = srpy.PythonEngine(mutual.uri + "/0", **mutual_options)
    try:
        assert eng.eval("1 + 1") == 2
    finally:
        eng.close()
    box = srpy.EngBox()
    try:
        added = box.startAndAppend(mutual.uri, **mutual_options)
        assert len(added) == 1 and added[0].ping() == "pong"
    finally:
        box.close()


@check
def mutual_tls_refuses_a_client_without_a_certificate():
    e = raises(srpy.AuthError, srpy.PythonEngine, mutual.uri + "/0", token=mutual.token, tls_ca=cert("ca.pem"),
               connect_timeout=5)
    assert "refused the connection" in str(e), str(e)


@check
def a_ca_that_did_not_sign_the_server_is_refused():
    options = dict(mutual_options, tls_ca=cert("other-ca.pem"))
    e = raises(srpy.AuthError, srpy.PythonEngine, mutual.uri + "/0", **options)
    assert "not signed by a trusted CA" in str(e), str(e)


@check
def bad_options_are_named():
    missing = cert("no-such-ca.pem")
    e = raises(srpy.SRPyError, srpy.PythonEngine, auto.uri + "/0", token=auto.token, tls_ca=missing)
    assert ("cannot read tls_ca " + missing) in str(e), str(e)
    e = raises(srpy.SRPyError, srpy.PythonEngine, auto.uri + "/0", token=auto.token, tls_pin="12:34")
    assert "is not a SHA-256 fingerprint" in str(e), str(e)


auto.close()
mutual.close()
report()
