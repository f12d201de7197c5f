package org.srpy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/**
 * How to connect to engines: the token, a bound on connecting, and TLS (the
 * Rust client's {@code ConnectOptions}, whose meanings these are).
 *
 * <pre>{@code
 * ConnectOptions o = new ConnectOptions().token("secret").tlsPin("sha256:AB:CD:...");
 * try (PythonEngine eng = new PythonEngine("srpys://host:7000/0", o)) { ... }
 * }</pre>
 *
 * <p>TLS is used for a {@code srpys://} address or when any TLS option is
 * set. The server is verified by a CA certificate file ({@link #tlsCa}: the
 * usual chain and host name checks) or by the SHA-256 fingerprint of its
 * certificate ({@link #tlsPin}: as {@code srpy-server --tls auto} prints it;
 * colons and case do not matter); {@link #tlsClientCert} presents a client
 * certificate to a server that asks for one (mutual TLS). The options are
 * checked when connecting: a missing file or a malformed pin is an
 * {@link SRPyException} naming it, a server that fails verification an
 * {@link AuthException} (a pin mismatch names both fingerprints).
 *
 * <p>Immutable: each setter answers a copy.
 */
public final class ConnectOptions {
    /** The bound on connecting when none is given. */
    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(10);

    private final String token;
    private final Duration connectTimeout;
    private final Path tlsCa;
    private final String tlsPin;
    private final Path tlsClientCert;
    private final Path tlsClientKey;

    /** No token (from {@code SRPY_TOKEN}), a 10 s connect timeout, no TLS options. */
    public ConnectOptions() {
        this(null, DEFAULT_CONNECT_TIMEOUT, null, null, null, null);
    }

    private ConnectOptions(String token, Duration connectTimeout, Path tlsCa, String tlsPin, Path tlsClientCert,
            Path tlsClientKey) {
        this.token = token;
        this.connectTimeout = connectTimeout;
        this.tlsCa = tlsCa;
        this.tlsPin = tlsPin;
        this.tlsClientCert = tlsClientCert;
        this.tlsClientKey = tlsClientKey;
    }

    /** The server's token ({@code null}: from the environment variable {@code SRPY_TOKEN}). */
    public ConnectOptions token(String token) {
        return new ConnectOptions(token, connectTimeout, tlsCa, tlsPin, tlsClientCert, tlsClientKey);
    }

    /**
     * The bound on connecting (TCP, TLS, handshake, resolving the engine
     * through the server); {@code null}: the default.
     */
    public ConnectOptions connectTimeout(Duration timeout) {
        if (timeout != null && (timeout.isNegative() || timeout.isZero())) {
            throw new IllegalArgumentException("a timeout must be positive: " + timeout);
        }
        return new ConnectOptions(token, timeout == null ? DEFAULT_CONNECT_TIMEOUT : timeout, tlsCa, tlsPin,
                tlsClientCert, tlsClientKey);
    }

    /** Verifies the server by this CA certificate file (PEM); {@code null}: none. */
    public ConnectOptions tlsCa(Path caFile) {
        return new ConnectOptions(token, connectTimeout, caFile, tlsPin, tlsClientCert, tlsClientKey);
    }

    /**
     * Verifies the server by the SHA-256 fingerprint of its certificate
     * ({@code sha256:AB:CD:...} as the server prints it); {@code null}: none.
     */
    public ConnectOptions tlsPin(String fingerprint) {
        return new ConnectOptions(token, connectTimeout, tlsCa, fingerprint, tlsClientCert, tlsClientKey);
    }

    /** Presents this client certificate and its private key (PEM files) for mutual TLS; nulls: none. */
    public ConnectOptions tlsClientCert(Path cert, Path key) {
        return new ConnectOptions(token, connectTimeout, tlsCa, tlsPin, cert, key);
    }

    public String getToken() {
        return token;
    }

    public Duration getConnectTimeout() {
        return connectTimeout;
    }

    public Path getTlsCa() {
        return tlsCa;
    }

    public String getTlsPin() {
        return tlsPin;
    }

    public Path getTlsClientCert() {
        return tlsClientCert;
    }

    public Path getTlsClientKey() {
        return tlsClientKey;
    }

    byte[] tokenBytes() {
        return token == null ? null : token.getBytes(StandardCharsets.UTF_8);
    }

    double connectSeconds() {
        return connectTimeout.getSeconds() + connectTimeout.getNano() / 1e9;
    }

    /** The TLS options as the native side takes them: CA file, pin, client certificate, its key. */
    String[] tls() {
        return new String[] {str(tlsCa), tlsPin, str(tlsClientCert), str(tlsClientKey)};
    }

    private static String str(Path p) {
        return p == null ? null : p.toString();
    }

    @Override
    public String toString() {
        return "ConnectOptions(token=" + (token == null ? "null" : "***") + ", connectTimeout=" + connectTimeout
                + ", tlsCa=" + tlsCa + ", tlsPin=" + tlsPin + ", tlsClientCert=" + tlsClientCert + ", tlsClientKey="
                + tlsClientKey + ")";
    }
}
