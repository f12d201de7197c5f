package org.srpy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Certificates for the TLS tests, made with the {@code openssl} command in a
 * fresh folder: {@code ca.pem} (a test CA) with {@code server.pem}/{@code .key}
 * (for 127.0.0.1) and {@code client.pem}/{@code .key} of it, and
 * {@code other-ca.pem}, a CA that signed nothing.
 */
final class TestPki {
    private TestPki() {
    }

    static Path make() throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory("srpy-jvm-tls-");
        ca(dir, "ca");
        ca(dir, "other-ca");
        issue(dir, "ca", "server", "IP:127.0.0.1");
        issue(dir, "ca", "client", "DNS:client");
        return dir;
    }

    static void remove(Path dir) throws IOException {
        if (dir == null) {
            return;
        }
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    private static void run(Path dir, String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "openssl hangs");
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + ":\n" + out);
    }

    /** A self-signed CA: {@code <name>.pem}, {@code <name>.key}. */
    private static void ca(Path dir, String name) throws IOException, InterruptedException {
        run(dir, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", name + ".key", "-out", name + ".pem", "-days", "2", "-subj", "/CN=srpy test " + name,
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign");
    }

    /** A certificate of CA {@code ca} for {@code san}: {@code <name>.pem}, {@code <name>.key}. */
    private static void issue(Path dir, String ca, String name, String san) throws IOException, InterruptedException {
        run(dir, "openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name);
        Path ext = dir.resolve(name + ".ext");
        Files.writeString(ext, "subjectAltName=" + san + "\nbasicConstraints=CA:FALSE\n");
        run(dir, "openssl", "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", ext.toString());
    }
}
