package org.srpy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * TLS through the Java client, on real servers: {@code --tls auto} (the pin
 * it reports) and a certificate of a test CA ({@link TestPki}), with mutual
 * TLS; every error a user meets, with its message.
 */
class TlsTest {
    private static final Duration QUICK = Duration.ofSeconds(5);
    private static Path dir;
    /** {@code --tls auto}. */
    private static LocalServer auto;
    /** A certificate of {@code ca.pem} for 127.0.0.1; clients need one of the same CA. */
    private static LocalServer mutual;

    @BeforeAll
    static void start() throws Exception {
        dir = TestPki.make();
        auto = new LocalServer(1, TestServer.python(), TestServer.serverBin(), Duration.ofSeconds(30),
                Arrays.asList("--tls", "auto"));
        mutual = new LocalServer(1, TestServer.python(), TestServer.serverBin(), Duration.ofSeconds(30),
                Arrays.asList("--tls-cert", file("server.pem"), "--tls-key", file("server.key"),
                        "--tls-client-ca", file("ca.pem")));
    }

    @AfterAll
    static void stop() throws IOException {
        for (LocalServer s : new LocalServer[] {auto, mutual}) {
            if (s != null) {
                s.close();
            }
        }
        TestPki.remove(dir);
    }

    private static String file(String name) {
        return dir.resolve(name).toString();
    }

    private static ConnectOptions opts(LocalServer s) {
        return new ConnectOptions().token(s.getToken()).connectTimeout(QUICK);
    }

    private static ConnectOptions mutualOpts() {
        return opts(mutual).tlsCa(dir.resolve("ca.pem")).tlsClientCert(dir.resolve("client.pem"),
                dir.resolve("client.key"));
    }

    @Test
    void aPinnedServerServesEnginesAndBoxes() {
        String pin = auto.getTlsPin();
        assertNotNull(pin);
        assertTrue(pin.startsWith("sha256:"), pin);
        assertTrue(auto.getUri().startsWith("srpys://"), auto.getUri());
        try (PythonEngine eng = new PythonEngine(auto.engineUri(0), opts(auto).tlsPin(pin))) {
            assertEquals(42L, eng.eval("6 * 7"));
            byte[] blob = new byte[1 << 20];
            Arrays.fill(blob, (byte) 7);
            eng.set("blob", blob);
            assertTrue(Arrays.equals(blob, (byte[]) eng.get("blob")));
        }
        // The pin in another spelling: no prefix, no colons, lower case.
        String bare = pin.substring("sha256:".length()).replace(":", "").toLowerCase();
        try (EngBox box = EngBox.connect(auto.getUri(), opts(auto).tlsPin(bare))) {
            assertEquals(1, box.size());
            assertEquals("pong", box.get(0).ping());
        }
        // The local server's own connections pin what it reported.
        try (PythonEngine eng = auto.connect(0)) {
            assertEquals("pong", eng.ping());
        }
    }

    @Test
    void aWrongPinNamesBothFingerprints() {
        String wrong = String.join(":", java.util.Collections.nCopies(32, "AB"));
        AuthException e = assertThrows(AuthException.class,
                () -> new PythonEngine(auto.engineUri(0), opts(auto).tlsPin(wrong)));
        String m = e.getMessage();
        assertTrue(m.contains("does not match the pinned fingerprint"), m);
        assertTrue(m.contains(wrong), m);
        assertTrue(m.contains(auto.getTlsPin().substring("sha256:".length())), m);
    }

    @Test
    void aPlaintextClientIsToldTheServerWantsTls() {
        String plain = auto.engineUri(0).replace("srpys://", "srpy://");
        ProtocolException e = assertThrows(ProtocolException.class, () -> new PythonEngine(plain, opts(auto)));
        assertTrue(e.getMessage().contains("this server requires TLS"), e.getMessage());
    }

    @Test
    void aTlsClientAgainstAPlaintextServerIsToldSo() {
        LocalServer plain = TestServer.get();
        String uri = plain.engineUri(0).replace("srpy://", "srpys://");
        String pin = String.join(":", java.util.Collections.nCopies(32, "AB"));
        long t = System.nanoTime();
        ProtocolException e = assertThrows(ProtocolException.class,
                () -> new PythonEngine(uri, opts(plain).tlsPin(pin)));
        assertTrue(e.getMessage().contains("did not answer in TLS"), e.getMessage());
        assertTrue(e.getMessage().contains("plaintext SRPy server"), e.getMessage());
        assertTrue(System.nanoTime() - t < TimeUnit.SECONDS.toNanos(4), "detected, not a timeout");
    }

    @Test
    void mutualTlsByCaWithAClientCertificate() {
        try (PythonEngine eng = new PythonEngine(mutual.engineUri(0), mutualOpts())) {
            assertEquals(2L, eng.eval("1 + 1"));
        }
        try (EngBox box = new EngBox()) {
            List<PythonEngine> added = box.startAndAppend(mutual.getUri(), mutualOpts());
            assertEquals(1, added.size());
            assertEquals("pong", added.get(0).ping());
        }
    }

    @Test
    void mutualTlsRefusesAClientWithoutACertificate() {
        AuthException e = assertThrows(AuthException.class,
                () -> new PythonEngine(mutual.engineUri(0), opts(mutual).tlsCa(dir.resolve("ca.pem"))));
        assertTrue(e.getMessage().contains("refused the connection"), e.getMessage());
    }

    @Test
    void aCaThatDidNotSignTheServerIsRefused() {
        ConnectOptions o = mutualOpts().tlsCa(dir.resolve("other-ca.pem"));
        AuthException e = assertThrows(AuthException.class, () -> new PythonEngine(mutual.engineUri(0), o));
        assertTrue(e.getMessage().contains("not signed by a trusted CA"), e.getMessage());
    }

    @Test
    void badOptionsAreNamed() {
        Path missing = dir.resolve("no-such-ca.pem");
        SRPyException e = assertThrows(SRPyException.class,
                () -> new PythonEngine(auto.engineUri(0), opts(auto).tlsCa(missing)));
        assertTrue(e.getMessage().contains("cannot read tls_ca " + missing), e.getMessage());
        e = assertThrows(SRPyException.class,
                () -> new PythonEngine(auto.engineUri(0), opts(auto).tlsPin("sha256:12:34")));
        assertTrue(e.getMessage().contains("TLS pin 'sha256:12:34' is not a SHA-256 fingerprint"), e.getMessage());
        // A client certificate without its key.
        ConnectOptions half = opts(mutual).tlsCa(dir.resolve("ca.pem")).tlsClientCert(dir.resolve("client.pem"),
                null);
        e = assertThrows(SRPyException.class, () -> new PythonEngine(mutual.engineUri(0), half));
        assertTrue(e.getMessage().contains("tls_cert and tls_key go together"), e.getMessage());
        // srpys:// without a way to verify the server.
        e = assertThrows(SRPyException.class, () -> new PythonEngine(auto.engineUri(0), opts(auto)));
        assertTrue(e.getMessage().contains("give tls_ca"), e.getMessage());
        assertFalse(e instanceof AuthException);
    }
}
