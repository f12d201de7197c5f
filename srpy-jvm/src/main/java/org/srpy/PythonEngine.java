package org.srpy;

import java.io.PrintStream;
import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;
import java.util.function.Supplier;

/**
 * A remote Python interpreter ("engine").
 *
 * <pre>{@code
 * try (PythonEngine eng = new PythonEngine("srpy://127.0.0.1:7000/0")) {
 *     eng.set("x", 21);
 *     Object r = eng.eval("x * 2");           // 42L
 *     eng.exec("import math");
 *     Object s = eng.call("math.sqrt", 2.0);  // 1.4142135623730951
 * }
 * }</pre>
 *
 * <p>Thread-safe: any number of threads may share one engine; their requests
 * are pipelined on one connection and run one at a time in the engine, in
 * arrival order ({@link #ping()}, {@link #isBusy()}, {@link #interrupt()} and
 * {@link #await(double)} are answered at once). Values convert as in
 * {@code docs/JVM.md}; a Java value without a mapping is an
 * {@link IllegalArgumentException} naming its class.
 *
 * <p>Errors are {@link SRPyException}s: {@link RemoteException} when the
 * Python code raised, {@link EngineDiedException} when the engine died during
 * the call (the next call reconnects), {@link SRPyTimeoutException} when a
 * call timed out ({@link #withTimeout(Duration)}), and so on. After
 * {@link #close()}, every call throws {@link IllegalStateException}.
 */
public class PythonEngine implements AutoCloseable {
    private static final Cleaner CLEANER = Cleaner.create();
    private static final ExecutorService ASYNC = Executors.newCachedThreadPool(new DaemonFactory("srpy-async"));

    /** Prints remote stdout to {@code System.out} and stderr to {@code System.err}, unchanged. */
    public static final BiConsumer<String, String> STDIO_OUTPUT = (stream, text) -> {
        PrintStream p = "stderr".equals(stream) ? System.err : System.out;
        p.print(text);
        p.flush();
    };

    /** Drops remote output. */
    public static final BiConsumer<String, String> DISCARD_OUTPUT = (stream, text) -> {
    };

    private final Core core;
    private final double timeout;

    /** Connects to {@code srpy://host:port/<index>} (or an engine's own {@code host:port}); token from {@code SRPY_TOKEN}. */
    public PythonEngine(String uri) {
        this(uri, (String) null);
    }

    /** Connects with the server's token ({@code null}: from the environment variable {@code SRPY_TOKEN}). */
    public PythonEngine(String uri, String token) {
        this(uri, token, Duration.ofSeconds(10));
    }

    /**
     * Connects with a token and a bound on connecting (TCP, handshake,
     * resolving the engine through the server).
     */
    public PythonEngine(String uri, String token, Duration connectTimeout) {
        this(uri, new ConnectOptions().token(token).connectTimeout(connectTimeout));
    }

    /**
     * Connects with {@link ConnectOptions}: the token, the connect timeout
     * and TLS ({@code srpys://} addresses, CA file or pinned fingerprint,
     * client certificate).
     */
    public PythonEngine(String uri, ConnectOptions options) {
        Objects.requireNonNull(uri, "uri");
        Objects.requireNonNull(options, "options");
        Native.ensureLoaded();
        long h = Native.connect(uri, options.tokenBytes(), options.connectSeconds(), options.tls(), Double.NaN);
        this.core = new Core(h, uri);
        this.timeout = Double.NaN;
    }

    /** Wraps a native engine handle made elsewhere (a box connected it). */
    PythonEngine(long handle, String uri) {
        this.core = new Core(handle, uri);
        this.timeout = Double.NaN;
    }

    /**
     * Runs {@code f} with this engine's native handle, which stays valid
     * during the call (IllegalStateException when closed).
     */
    <T> T withHandle(java.util.function.LongFunction<T> f) {
        core.enter();
        try {
            return f.apply(core.handle);
        } finally {
            core.exit();
        }
    }

    private PythonEngine(Core core, double timeout) {
        this.core = core;
        this.timeout = timeout;
    }

    /** Same as {@code new PythonEngine(uri)}. */
    public static PythonEngine connect(String uri) {
        return new PythonEngine(uri);
    }

    /** Same as {@code new PythonEngine(uri, token)}. */
    public static PythonEngine connect(String uri, String token) {
        return new PythonEngine(uri, token);
    }

    /** Same as {@code new PythonEngine(uri, options)}. */
    public static PythonEngine connect(String uri, ConnectOptions options) {
        return new PythonEngine(uri, options);
    }

    private static double seconds(Duration d) {
        if (d == null) {
            return Double.NaN;
        }
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException("a timeout must be positive: " + d);
        }
        return d.getSeconds() + d.getNano() / 1e9;
    }

    // ------------------------------------------------------------------ views and state

    /**
     * A view of this engine whose calls give up after {@code timeout}: such a
     * call throws {@link SRPyTimeoutException} and the engine is sent an
     * interrupt. The view shares the connection, the output handler and the
     * closed state with this engine ({@code null}: no timeout).
     */
    public PythonEngine withTimeout(Duration timeout) {
        return new PythonEngine(core, seconds(timeout));
    }

    /** The per-call timeout of this view, or null. */
    public Duration getTimeout() {
        return Double.isNaN(timeout) ? null : Duration.ofNanos((long) (timeout * 1e9));
    }

    /** The address this engine was connected with. */
    public String getUri() {
        return core.uri;
    }

    /**
     * The engine's welcome info of the current connection ({@code role},
     * {@code index}, {@code pid}, {@code name}, {@code group}, {@code hostname}).
     */
    @SuppressWarnings("unchecked")
    public Map<Object, Object> info() {
        core.enter();
        try {
            Object o = Native.info(core.handle);
            return o instanceof Map ? (Map<Object, Object>) o : Collections.emptyMap();
        } finally {
            core.exit();
        }
    }

    /** Whether a live connection exists now (calls reconnect as needed). */
    public boolean isConnected() {
        core.enter();
        try {
            return Native.isConnected(core.handle);
        } finally {
            core.exit();
        }
    }

    /**
     * Where remote stdout/stderr goes: {@code handler.accept(stream, text)}
     * with stream {@code "stdout"} or {@code "stderr"}, called on the thread
     * that made the call, before the call returns. Default
     * {@link #STDIO_OUTPUT}; {@code null} drops the output. Shared by all
     * views of this engine.
     */
    public void setOutputHandler(BiConsumer<String, String> handler) {
        core.output = handler == null ? DISCARD_OUTPUT : handler;
    }

    public BiConsumer<String, String> getOutputHandler() {
        return core.output;
    }

    public boolean isClosed() {
        return core.isClosed();
    }

    /**
     * Closes the connection. Calls in flight fail; later calls throw
     * {@link IllegalStateException}; closing again throws
     * {@code IllegalStateException("already closed")}.
     */
    @Override
    public void close() {
        core.close();
    }

    // ------------------------------------------------------------------ the operations

    /**
     * Sends any operation: its wire name ({@code "eval"}, see
     * docs/PROTOCOL.md 10.4) and its fields as alternating names and values
     * ({@code request("eval", "expr", "1+1")}); every method below is a thin
     * call of this one.
     */
    public Object request(String op, Object... fields) {
        return request(timeout, op, fields);
    }

    private Object request(double callTimeout, String op, Object... fields) {
        Objects.requireNonNull(op, "op");
        core.enter();
        try {
            BiConsumer<String, String> out = core.output;
            return Native.request(core.handle, op, fields, callTimeout, out == DISCARD_OUTPUT ? null : safe(out));
        } finally {
            core.exit();
        }
    }

    private static BiConsumer<String, String> safe(BiConsumer<String, String> out) {
        if (out == STDIO_OUTPUT) {
            return out;
        }
        return (stream, text) -> {
            try {
                out.accept(stream, text);
            } catch (Throwable t) {
                // An output handler must not break the call; report and go on.
                t.printStackTrace();
            }
        };
    }

    /** {@code "pong"} when the engine is reachable; answered without waiting for running work. */
    public String ping() {
        return (String) request("ping");
    }

    /** A description of the engine (host, OS, Python version, pid, index, …). */
    @SuppressWarnings("unchecked")
    public Map<Object, Object> whoami() {
        return (Map<Object, Object>) request("whoami");
    }

    /** Binds one variable. */
    public void set(String name, Object value) {
        Objects.requireNonNull(name, "name");
        request("set", "vars", Collections.singletonMap(name, value));
    }

    /** Binds several variables at once, in the map's order. */
    public void set(Map<String, ?> vars) {
        request("set", "vars", Objects.requireNonNull(vars, "vars"));
    }

    /** One variable's value; an unbound name is a remote {@code NameError}. */
    public Object get(String name) {
        return request("get", "name", Objects.requireNonNull(name, "name"));
    }

    /** Several variables, in the order asked. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> get(List<String> names) {
        return (Map<String, Object>) request("get_many", "names", strings(names));
    }

    /** The names bound in the namespace (sorted; dunder names hidden). */
    @SuppressWarnings("unchecked")
    public List<String> names() {
        return (List<String>) request("names");
    }

    /** Unbinds variables (if any is unbound: a remote {@code NameError} and nothing is deleted). */
    public void delete(String... names) {
        request("delete", "names", strings(Arrays.asList(names)));
    }

    /** Resets the namespace. */
    public void clear() {
        request("clear");
    }

    /** Evaluates an expression. */
    public Object eval(String expr) {
        return request("eval", "expr", Objects.requireNonNull(expr, "expr"));
    }

    /** Binds {@code vars} (persistently), then evaluates an expression. */
    public Object eval(String expr, Map<String, ?> vars) {
        return request("eval", "expr", Objects.requireNonNull(expr, "expr"), "vars", vars);
    }

    /** Executes statements. */
    public void exec(String code) {
        request("exec", "code", Objects.requireNonNull(code, "code"));
    }

    /** Binds {@code vars} (persistently), then executes statements. */
    public void exec(String code, Map<String, ?> vars) {
        request("exec", "code", Objects.requireNonNull(code, "code"), "vars", vars);
    }

    /** The original SRPy name of {@link #exec(String)}. */
    public void exe(String code) {
        exec(code);
    }

    /** The original SRPy name of {@link #exec(String, Map)}. */
    public void exe(String code, Map<String, ?> vars) {
        exec(code, vars);
    }

    /**
     * Executes {@code code} in a fresh temporary namespace holding only
     * {@code vars} and answers the variables named in {@code get}; the
     * engine's namespace is untouched.
     */
    @SuppressWarnings("unchecked")
    public Map<String, Object> vexec(String code, List<String> get, Map<String, ?> vars) {
        return (Map<String, Object>) request("vexec", "code", Objects.requireNonNull(code, "code"),
                "get", strings(get == null ? Collections.emptyList() : get), "vars", vars);
    }

    /** The original SRPy name of {@link #vexec}. */
    public Map<String, Object> vexe(String code, List<String> get, Map<String, ?> vars) {
        return vexec(code, get, vars);
    }

    /** Calls a function by dotted name ({@code "math.sqrt"}, {@code "obj.method"}). */
    public Object call(String name, Object... args) {
        return request("call", "name", Objects.requireNonNull(name, "name"),
                "args", args == null ? new Object[] {null} : args);
    }

    /** Calls a function with positional and keyword arguments. */
    public Object callKw(String name, List<?> args, Map<String, ?> kwargs) {
        Object[] a = args == null ? new Object[0] : args.toArray();
        return request("call", "name", Objects.requireNonNull(name, "name"), "args", a, "kwargs", kwargs);
    }

    /** A callable handle on a remote function. */
    public RemoteFunction function(String name) {
        return new RemoteFunction(this, Objects.requireNonNull(name, "name"));
    }

    /** The original SRPy name of {@link #function(String)}. */
    public RemoteFunction associateFunction(String name) {
        return function(name);
    }

    /**
     * What a dotted name is: {@code name, kind} (module, class, function,
     * callable, value), {@code type, doc, signature, attributes}.
     */
    @SuppressWarnings("unchecked")
    public Map<String, Object> describe(String name) {
        return (Map<String, Object>) request("describe", "name", Objects.requireNonNull(name, "name"));
    }

    /** Ships a module as source; importable as {@code moduleName} afterwards (reloaded if imported before). */
    public void install(String moduleName, String source) {
        request("install", "name", Objects.requireNonNull(moduleName, "moduleName"),
                "source", Objects.requireNonNull(source, "source"));
    }

    /** Ships a package (or several modules) as a zip archive, extracted into the engine's module folder. */
    public void installPackage(String name, byte[] zip) {
        request("install", "name", Objects.requireNonNull(name, "name"),
                "archive", Objects.requireNonNull(zip, "zip"), "is_package", true);
    }

    /** Imports modules into the namespace ({@code "os"}, {@code "numpy as np"}). */
    public void imp(String... modules) {
        request("import", "modules", strings(Arrays.asList(modules)));
    }

    /** Whether the engine is running (or has queued) a request now. */
    public boolean isBusy() {
        return (Boolean) request("is_busy");
    }

    /**
     * Waits until the engine is idle, at most {@code timeoutSeconds}; true when
     * it is idle. (Java's {@code Object.wait} is final, hence the name.)
     */
    public boolean await(double timeoutSeconds) {
        if (!(timeoutSeconds >= 0) || Double.isInfinite(timeoutSeconds)) {
            throw new IllegalArgumentException("timeout must be finite and >= 0: " + timeoutSeconds);
        }
        // The wait's own limit bounds it, not the call timeout.
        return (Boolean) request(Double.NaN, "wait", "timeout", timeoutSeconds);
    }

    /** Waits as long as it takes until the engine is idle. */
    public boolean waitIdle() {
        return (Boolean) request(Double.NaN, "wait", "timeout", null);
    }

    /** Waits until the engine is idle, at most {@code timeout}; true when idle. */
    public boolean waitIdle(Duration timeout) {
        return await(seconds(timeout));
    }

    /** The original SRPy name ({@code wait}) of {@link #await(double)}. */
    public boolean wait_(double timeoutSeconds) {
        return await(timeoutSeconds);
    }

    /** Raises {@code KeyboardInterrupt} in the running request; true when something was running. */
    public boolean interrupt() {
        return (Boolean) request("interrupt");
    }

    /** Network and processor benchmark: {@code cycles} pings timed here, and the engine's benchmark loop. */
    public Benchmark benchmark(int cycles) {
        if (cycles < 1) {
            throw new IllegalArgumentException("cycles must be >= 1: " + cycles);
        }
        Tuple r = (Tuple) request(Double.NaN, "benchmark", "cycles", (long) cycles);
        return new Benchmark((Double) r.get(0), (Double) r.get(1), (Boolean) r.get(2));
    }

    // ------------------------------------------------------------------ futures

    private <T> CompletableFuture<T> async(Supplier<T> work) {
        core.check();
        return CompletableFuture.supplyAsync(work, ASYNC);
    }

    /** {@link #eval(String)} on another thread. */
    public CompletableFuture<Object> evalAsync(String expr) {
        return async(() -> eval(expr));
    }

    public CompletableFuture<Object> evalAsync(String expr, Map<String, ?> vars) {
        return async(() -> eval(expr, vars));
    }

    public CompletableFuture<Void> execAsync(String code) {
        return async(() -> {
            exec(code);
            return null;
        });
    }

    public CompletableFuture<Void> execAsync(String code, Map<String, ?> vars) {
        return async(() -> {
            exec(code, vars);
            return null;
        });
    }

    public CompletableFuture<Map<String, Object>> vexecAsync(String code, List<String> get, Map<String, ?> vars) {
        return async(() -> vexec(code, get, vars));
    }

    public CompletableFuture<Object> callAsync(String name, Object... args) {
        return async(() -> call(name, args));
    }

    public CompletableFuture<Object> getAsync(String name) {
        return async(() -> get(name));
    }

    public CompletableFuture<Void> setAsync(String name, Object value) {
        return async(() -> {
            set(name, value);
            return null;
        });
    }

    /** Runs any work against this engine on the SRPy async pool. */
    public <T> CompletableFuture<T> submit(java.util.function.Function<PythonEngine, T> work) {
        return async(() -> work.apply(this));
    }

    @Override
    public String toString() {
        return "PythonEngine(" + core.uri + (core.isClosed() ? ", closed" : "") + ")";
    }

    private static String[] strings(Collection<String> names) {
        Objects.requireNonNull(names, "names");
        String[] out = new String[names.size()];
        int i = 0;
        for (Object n : names) {
            if (!(n instanceof String)) {
                throw new IllegalArgumentException("a name must be a String, got "
                        + (n == null ? "null" : n.getClass().getName()));
            }
            out[i++] = (String) n;
        }
        return out;
    }

    static <T> List<T> listOf(Collection<T> c) {
        return new ArrayList<>(c);
    }

    /** Benchmark support: nanoseconds of n evaluations by the Rust client itself on this connection. */
    long[] rustEvalNanos(String expr, int n) {
        core.enter();
        try {
            return Native.benchRustEval(core.handle, expr, n);
        } finally {
            core.exit();
        }
    }

    /** Benchmark support: the Rust client's own set/get of {@code size} bytes on this connection. */
    double[] rustBytesSeconds(int size, int reps) {
        core.enter();
        try {
            return Native.benchRustBytes(core.handle, size, reps);
        } finally {
            core.exit();
        }
    }

    // ------------------------------------------------------------------ the native handle

    /** The native state, freed once: at close (when no call is in flight) or when unreachable. */
    private static final class Handle implements Runnable {
        final long ptr;
        final AtomicBoolean freed = new AtomicBoolean();

        Handle(long ptr) {
            this.ptr = ptr;
        }

        @Override
        public void run() {
            if (freed.compareAndSet(false, true)) {
                Native.free(ptr);
            }
        }
    }

    /**
     * Shared by an engine and its views. {@code state}: bit 0 = closed, the
     * rest = 2 × calls in flight; the native handle is freed by whoever
     * leaves it closed with no call in flight.
     */
    static final class Core {
        final long handle;
        final String uri;
        final Handle h;
        final Cleaner.Cleanable cleanable;
        final AtomicInteger state = new AtomicInteger();
        volatile BiConsumer<String, String> output = STDIO_OUTPUT;

        Core(long handle, String uri) {
            this.handle = handle;
            this.uri = uri;
            this.h = new Handle(handle);
            this.cleanable = CLEANER.register(this, h);
        }

        boolean isClosed() {
            return (state.get() & 1) != 0;
        }

        void check() {
            if (isClosed()) {
                throw new IllegalStateException("the engine " + uri + " is closed");
            }
        }

        void enter() {
            for (;;) {
                int s = state.get();
                if ((s & 1) != 0) {
                    throw new IllegalStateException("the engine " + uri + " is closed");
                }
                if (state.compareAndSet(s, s + 2)) {
                    return;
                }
            }
        }

        void exit() {
            int s = state.addAndGet(-2);
            if (s == 1) {
                cleanable.clean();
            }
            Reference.reachabilityFence(this);
        }

        void close() {
            for (;;) {
                int s = state.get();
                if ((s & 1) != 0) {
                    throw new IllegalStateException("already closed");
                }
                if (state.compareAndSet(s, (s | 1) + 2)) {
                    break;
                }
            }
            try {
                Native.close(handle);
            } finally {
                exit();
            }
        }
    }

    static final class DaemonFactory implements java.util.concurrent.ThreadFactory {
        private final String prefix;
        private final AtomicLong n = new AtomicLong();

        DaemonFactory(String prefix) {
            this.prefix = prefix;
        }

        @Override
        public Thread newThread(Runnable r) {
            Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        }
    }
}
