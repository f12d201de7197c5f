package org.srpy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * A private {@code srpy-server} with its engines, on loopback with a fresh
 * random token (the original's {@code newSubEngine()} / {@code srpy.local(n)});
 * with TLS ({@code serverArgs} {@code --tls auto}) its connections pin the
 * certificate the server reported.
 *
 * <pre>{@code
 * try (LocalServer srv = new LocalServer(4);
 *      EngBox box = new EngBox(srv.connectAll())) { ... }
 * }</pre>
 *
 * The server is the jar's own {@code srpy-server} (unless {@code serverBin}
 * or the environment variable {@code SRPY_SERVER_BIN} names another). The
 * engines' Python is {@code python}, else the system property
 * {@code srpy.python}, else the environment variable {@code SRPY_PYTHON},
 * else the first {@code python3} or {@code python} on {@code PATH} that can
 * {@code import srpy} ({@code python3 -m pip install srpy} makes one). The
 * server is stopped by {@link #close()}, or when the JVM exits.
 */
public final class LocalServer implements AutoCloseable {
    private static final Set<LocalServer> OPEN = Collections.newSetFromMap(new IdentityHashMap<>());
    private static boolean hookInstalled;

    private long handle;
    private final String uri;
    private final String token;
    private final String tlsPin;
    private final int engines;
    private final long pid;
    private final String log;

    /** Starts a server with {@code engines} engines (defaults for the rest). */
    public LocalServer(int engines) {
        this(engines, null, null);
    }

    /**
     * @param engines number of engines (&ge; 1)
     * @param python interpreter of the engines, or null for the default
     * @param serverBin the {@code srpy-server} binary, or null for the default
     */
    public LocalServer(int engines, String python, String serverBin) {
        this(engines, python, serverBin, Duration.ofSeconds(30));
    }

    public LocalServer(int engines, String python, String serverBin, Duration startTimeout) {
        this(engines, python, serverBin, startTimeout, Collections.emptyList());
    }

    /**
     * @param serverArgs more arguments for {@code srpy-server}, e.g.
     *        {@code List.of("--tls", "auto")}: a server with TLS, whose
     *        certificate this object's connections then pin
     *        ({@link #getTlsPin()})
     */
    public LocalServer(int engines, String python, String serverBin, Duration startTimeout,
            List<String> serverArgs) {
        if (engines < 1) {
            throw new IllegalArgumentException("engines must be >= 1: " + engines);
        }
        Native.ensureLoaded();
        double t = startTimeout == null ? 30 : startTimeout.toMillis() / 1000.0;
        String[] args = serverArgs == null ? new String[0] : serverArgs.toArray(new String[0]);
        long h = Native.localStart(engines, LocalLaunch.python(python), LocalLaunch.serverBin(serverBin), null, t,
                args);
        this.handle = h;
        this.uri = Native.localUri(h);
        this.token = new String(Native.localToken(h), StandardCharsets.UTF_8);
        this.tlsPin = Native.localTlsPin(h);
        this.engines = engines;
        this.pid = Native.localPid(h);
        this.log = Native.localLog(h);
        register(this);
    }

    private static synchronized void register(LocalServer s) {
        OPEN.add(s);
        if (!hookInstalled) {
            hookInstalled = true;
            Runtime.getRuntime().addShutdownHook(new Thread(LocalServer::closeAll, "srpy-local-server-stop"));
        }
    }

    private static void closeAll() {
        List<LocalServer> all;
        synchronized (LocalServer.class) {
            all = new ArrayList<>(OPEN);
        }
        for (LocalServer s : all) {
            try {
                s.close();
            } catch (RuntimeException e) {
                // already closed
            }
        }
    }

    /** The server's URI ({@code srpy://127.0.0.1:PORT}, {@code srpys://} with TLS). */
    public String getUri() {
        return uri;
    }

    /** The URI of engine {@code index}. */
    public String engineUri(int index) {
        return uri + "/" + index;
    }

    /** The server's token (hand it to other processes that should reach the engines). */
    public String getToken() {
        return token;
    }

    /**
     * The SHA-256 fingerprint of the server's TLS certificate
     * ({@code sha256:AB:...}), or null for a server without TLS.
     */
    public String getTlsPin() {
        return tlsPin;
    }

    /** How to connect to this server's engines: its token and, with TLS, its pin. */
    public ConnectOptions connectOptions() {
        return new ConnectOptions().token(token).tlsPin(tlsPin);
    }

    public int getEngineCount() {
        return engines;
    }

    public long getPid() {
        return pid;
    }

    /** The server's stdout/stderr log. */
    public Path getLogPath() {
        return Paths.get(log);
    }

    public synchronized boolean isRunning() {
        return handle != 0 && Native.localRunning(handle);
    }

    /** Connects to engine {@code index}. */
    public PythonEngine connect(int index) {
        check();
        return new PythonEngine(engineUri(index), connectOptions());
    }

    /** Connects to every engine, in index order (in parallel). */
    public List<PythonEngine> connectAll() {
        check();
        List<CompletableFuture<PythonEngine>> fs = new ArrayList<>();
        for (int i = 0; i < engines; i++) {
            final int index = i;
            fs.add(CompletableFuture.supplyAsync(() -> connect(index)));
        }
        List<PythonEngine> out = new ArrayList<>();
        RuntimeException failure = null;
        for (CompletableFuture<PythonEngine> f : fs) {
            try {
                out.add(f.join());
            } catch (java.util.concurrent.CompletionException e) {
                if (failure == null) {
                    failure = e.getCause() instanceof RuntimeException ? (RuntimeException) e.getCause() : e;
                }
            }
        }
        if (failure != null) {
            for (PythonEngine e : out) {
                e.close();
            }
            throw failure;
        }
        return out;
    }

    private synchronized void check() {
        if (handle == 0) {
            throw new IllegalStateException("the local server is closed");
        }
    }

    /** Stops the server (SIGTERM, then SIGKILL after 5 s). A second close throws {@code IllegalStateException}. */
    @Override
    public void close() {
        long h;
        synchronized (this) {
            if (handle == 0) {
                throw new IllegalStateException("already closed");
            }
            h = handle;
            handle = 0;
        }
        synchronized (LocalServer.class) {
            OPEN.remove(this);
        }
        try {
            Native.localStop(h);
        } finally {
            Native.localFree(h);
        }
    }

    @Override
    public String toString() {
        return "LocalServer(" + uri + ", engines=" + engines + ", pid=" + pid + ")";
    }
}
