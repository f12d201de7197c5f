package org.srpy;

import java.lang.ref.Cleaner;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.BiConsumer;
import java.util.function.Function;

/**
 * A box of engines (the original SRPy {@code EngBox}), wrapping the Rust
 * client's {@code EngBox}: run the same call on every engine, one after the
 * other ({@link #runSequential}, the original's {@code mrs}) or at once
 * ({@link #runParallel}, {@code mrp}), spread work over them with a
 * load-balanced {@link #map}, {@link #scatter}/{@link #gather} lists.
 *
 * <pre>{@code
 * try (LocalServer srv = new LocalServer(4); EngBox box = new EngBox(srv.connectAll())) {
 *     Map<PythonEngine, Object> r = box.runParallel("eval", "sum(range(10**6))");
 *     List<Object> roots = box.map("math.sqrt", List.of(1, 4, 9));
 *     List<Object> squares = box.mapExpr("x * x", List.of(1, 2, 3));
 * }
 * }</pre>
 *
 * Result maps are ordered like the box and hold each engine's answer, or the
 * exception ({@link SRPyException}, {@link IllegalStateException} for a
 * closed engine) it failed with: one engine's failure never fails the
 * whole call. Thread-safe. Remote output of box calls goes to the box's
 * output handler ({@link #setOutputHandler}), on the calling thread.
 */
public class EngBox implements Iterable<PythonEngine>, AutoCloseable {
    private static final Cleaner CLEANER = Cleaner.create();

    private final long handle;
    private final Cleaner.Cleanable cleanable;
    private final List<PythonEngine> engines = new ArrayList<>();
    /** Runs share the read lock; changes to the box take the write lock. */
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile BiConsumer<String, String> output = PythonEngine.STDIO_OUTPUT;

    private static final class Free implements Runnable {
        private final long h;

        Free(long h) {
            this.h = h;
        }

        @Override
        public void run() {
            Native.boxFree(h);
        }
    }

    public EngBox() {
        Native.ensureLoaded();
        this.handle = Native.boxNew();
        this.cleanable = CLEANER.register(this, new Free(handle));
    }

    public EngBox(Collection<PythonEngine> engines) {
        this();
        for (PythonEngine e : engines) {
            append(e);
        }
    }

    public EngBox(PythonEngine... engines) {
        this(Arrays.asList(engines));
    }

    /** A box of every engine an address stands for ({@code srpy://host:port}: all the server's engines). */
    public static EngBox connect(String uri, String token) {
        return connect(uri, new ConnectOptions().token(token));
    }

    /** {@link #connect(String, String)} with {@link ConnectOptions} (token, connect timeout, TLS). */
    public static EngBox connect(String uri, ConnectOptions options) {
        EngBox b = new EngBox();
        b.startAndAppend(uri, options);
        return b;
    }

    private void checkOpen() {
        if (closed.get()) {
            throw new IllegalStateException("the box is closed");
        }
    }

    private <T> T reading(java.util.function.Supplier<T> f) {
        lock.readLock().lock();
        try {
            checkOpen();
            return f.get();
        } finally {
            lock.readLock().unlock();
        }
    }

    private <T> T writing(java.util.function.Supplier<T> f) {
        lock.writeLock().lock();
        try {
            checkOpen();
            return f.get();
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Where remote output of box calls goes (default {@link PythonEngine#STDIO_OUTPUT}; null drops it). */
    public void setOutputHandler(BiConsumer<String, String> handler) {
        output = handler == null ? PythonEngine.DISCARD_OUTPUT : handler;
    }

    private BiConsumer<String, String> out() {
        BiConsumer<String, String> o = output;
        return o == PythonEngine.DISCARD_OUTPUT ? null : o;
    }

    // ------------------------------------------------------------------ building the box

    /** Adds an engine (the box shares its connection; closing the engine makes it dead in the box). */
    public EngBox append(PythonEngine engine) {
        Objects.requireNonNull(engine, "engine");
        return writing(() -> {
            engine.withHandle(h -> {
                Native.boxAppend(handle, h);
                return null;
            });
            engines.add(engine);
            return this;
        });
    }

    private List<PythonEngine> startAndAppend(String what, ConnectOptions options, int kind) {
        Objects.requireNonNull(options, "options");
        return writing(() -> {
            long[] hs = Native.boxStartAndAppend(handle, what, options.tokenBytes(), options.connectSeconds(),
                    options.tls(), kind);
            List<PythonEngine> added = new ArrayList<>();
            for (long h : hs) {
                added.add(new PythonEngine(h, Native.engineUri(h)));
            }
            engines.addAll(added);
            return added;
        });
    }

    /**
     * Connects and adds the engines of an address: one engine for
     * {@code srpy://h:p/<i>}, every engine of the server for {@code srpy://h:p}.
     * Token from {@code SRPY_TOKEN}.
     */
    public List<PythonEngine> startAndAppend(String uri) {
        return startAndAppend(uri, (String) null);
    }

    public List<PythonEngine> startAndAppend(String uri, String token) {
        return startAndAppend(uri, new ConnectOptions().token(token));
    }

    /** {@link #startAndAppend(String)} with {@link ConnectOptions} (token, connect timeout, TLS). */
    public List<PythonEngine> startAndAppend(String uri, ConnectOptions options) {
        return startAndAppend(Objects.requireNonNull(uri, "uri"), options, 0);
    }

    /** {@link #startAndAppend} for every URI of a text (one per line, {@code #} comments); all or nothing. */
    public List<PythonEngine> startAndAppendFromText(String text, String token) {
        return startAndAppendFromText(text, new ConnectOptions().token(token));
    }

    public List<PythonEngine> startAndAppendFromText(String text, ConnectOptions options) {
        return startAndAppend(Objects.requireNonNull(text, "text"), options, 1);
    }

    /** {@link #startAndAppendFromText} with the text of a file. */
    public List<PythonEngine> startAndAppendFromFile(Path file, String token) {
        return startAndAppendFromFile(file, new ConnectOptions().token(token));
    }

    public List<PythonEngine> startAndAppendFromFile(Path file, ConnectOptions options) {
        return startAndAppend(file.toString(), options, 2);
    }

    /** The engines, in box order (a copy). */
    public List<PythonEngine> getEngines() {
        lock.readLock().lock();
        try {
            return new ArrayList<>(engines);
        } finally {
            lock.readLock().unlock();
        }
    }

    public int size() {
        return getEngines().size();
    }

    public PythonEngine get(int index) {
        return getEngines().get(index);
    }

    /** Removes an engine from the box (its connection stays open). */
    public boolean remove(PythonEngine e) {
        return writing(() -> {
            int i = engines.indexOf(e);
            if (i < 0) {
                return false;
            }
            Native.boxRemove(handle, i);
            engines.remove(i);
            return true;
        });
    }

    @Override
    public Iterator<PythonEngine> iterator() {
        return getEngines().iterator();
    }

    private List<PythonEngine> pick(int[] idx) {
        List<PythonEngine> out = new ArrayList<>(idx.length);
        for (int i : idx) {
            out.add(engines.get(i));
        }
        return out;
    }

    // ------------------------------------------------------------------ finding engines

    /**
     * The engines matching every non-null criterion: {@code name} and
     * {@code group} as the engine's server was started with ({@code --name},
     * {@code --group}), {@code ip} the host of the engine's URI,
     * {@code hostname} the engine machine's host name.
     */
    public List<PythonEngine> searchForEngine(String name, String group, String ip, String hostname) {
        return reading(() -> pick(Native.boxSearch(handle, name, group, ip, hostname)));
    }

    /**
     * The engines ranked by their benchmark, fastest first (engines whose
     * benchmark failed are left out): basis {@code "all"} (network + processor;
     * also null), {@code "net"} or {@code "proc"} (anything else:
     * {@link IllegalArgumentException}); with {@code single}, only the fastest.
     * The original's defaults are {@code getFastest(true, "all")}.
     */
    public List<PythonEngine> getFastest(boolean single, String basis) {
        return reading(() -> pick(Native.boxFastest(handle, single, basis)));
    }

    /**
     * Pings every engine now and answers those whose ping fails, for any
     * reason (no answer, died, closed, server gone: connection refused).
     */
    public List<PythonEngine> getDead() {
        return reading(() -> pick(Native.boxDead(handle, true)));
    }

    /** Checks every engine now and removes the dead ones from the box; answers them. */
    public List<PythonEngine> cleanDead() {
        return writing(() -> {
            int[] dead = Native.boxDead(handle, true);
            List<PythonEngine> removed = pick(dead);
            for (int k = dead.length - 1; k >= 0; k--) {
                Native.boxRemove(handle, dead[k]);
                engines.remove(dead[k]);
            }
            return removed;
        });
    }

    // ------------------------------------------------------------------ running on every engine

    /**
     * Calls the {@link PythonEngine} method {@code method} with {@code args} on
     * every engine, one after the other (the original's {@code mrs.<method>}).
     * The operations ({@code eval, exec, exe, set, get, names, delete, clear,
     * vexec, call, callKw, describe, install, installPackage, imp, ping,
     * whoami, isBusy, interrupt}) run in the Rust box; other methods by
     * reflection.
     */
    public Map<PythonEngine, Object> runSequential(String method, Object... args) {
        return runOp(false, method, args, Double.NaN);
    }

    /** Calls the method on every engine at once and waits for all (the original's {@code mrp.<method>}). */
    public Map<PythonEngine, Object> runParallel(String method, Object... args) {
        return runOp(true, method, args, Double.NaN);
    }

    /**
     * {@link #runParallel} where every engine must answer within
     * {@code timeout} (a call timeout): an engine that does not is
     * interrupted and its entry is an {@link SRPyTimeoutException}. (The
     * original's {@code mrp} / {@code mrpwait}, which start the calls and
     * wait later, are {@link #submitAll} and the futures' {@code get}.)
     */
    public Map<PythonEngine, Object> runParallelTimeout(Duration timeout, String method, Object... args) {
        return runOp(true, method, args, timeout.toNanos() / 1e9);
    }

    /** Executes code on every engine at once. */
    public Map<PythonEngine, Object> execAll(String code) {
        return runParallel("exec", code);
    }

    /** Evaluates an expression on every engine at once. */
    public Map<PythonEngine, Object> evalAll(String expr) {
        return runParallel("eval", expr);
    }

    /** Binds variables on every engine at once. */
    public Map<PythonEngine, Object> setAll(Map<String, ?> vars) {
        return runParallel("set", vars);
    }

    private Map<PythonEngine, Object> runOp(boolean parallel, String method, Object[] args, double timeout) {
        Object[] a = args == null ? new Object[] {null} : args;
        OpCall op = OpCall.of(method, a);
        if (op == null) {
            Function<PythonEngine, Object> f = invoker(method, a);
            return parallel ? runParallel(f) : runSequential(f);
        }
        return reading(() -> {
            Object[] rs = Native.boxRun(handle, parallel, op.op, op.fields, timeout, out());
            Map<PythonEngine, Object> m = new LinkedHashMap<>();
            for (int i = 0; i < rs.length; i++) {
                m.put(engines.get(i), rs[i]);
            }
            return m;
        });
    }

    /** Runs {@code work} on every engine, one after the other (Java side). */
    public <T> Map<PythonEngine, Object> runSequential(Function<PythonEngine, T> work) {
        Map<PythonEngine, Object> out = new LinkedHashMap<>();
        for (PythonEngine e : getEngines()) {
            out.put(e, capture(work::apply, e));
        }
        return out;
    }

    /** Runs {@code work} on every engine at once (on the SRPy async pool) and waits for all. */
    public <T> Map<PythonEngine, Object> runParallel(Function<PythonEngine, T> work) {
        Map<PythonEngine, CompletableFuture<Object>> fs = submitAll(work);
        Map<PythonEngine, Object> out = new LinkedHashMap<>();
        for (Map.Entry<PythonEngine, CompletableFuture<Object>> e : fs.entrySet()) {
            out.put(e.getKey(), e.getValue().join());
        }
        return out;
    }

    /** Starts {@code work} on every engine; the futures complete with a result or the Throwable. */
    public <T> Map<PythonEngine, CompletableFuture<Object>> submitAll(Function<PythonEngine, T> work) {
        Map<PythonEngine, CompletableFuture<Object>> fs = new LinkedHashMap<>();
        for (PythonEngine e : getEngines()) {
            CompletableFuture<Object> f;
            try {
                f = e.submit(work::apply).handle((r, t) -> t == null ? r : unwrap(t));
            } catch (RuntimeException ex) {
                f = CompletableFuture.completedFuture(ex);
            }
            fs.put(e, f);
        }
        return fs;
    }

    // ------------------------------------------------------------------ spreading work

    /**
     * Calls the remote function {@code function} (dotted name, resolved like
     * {@link PythonEngine#call}) on every item, load-balanced over the engines
     * in chunks; answers the results in item order. With {@code extraArgs},
     * each call is {@code function(item, *extraArgs)} and the function must
     * be reachable as an expression in the engines' namespace (a builtin, or
     * a module imported there). The first failing item is thrown (its
     * exception class, the item's index in the message).
     */
    public List<Object> map(String function, List<?> items, Object... extraArgs) {
        Objects.requireNonNull(function, "function");
        if (extraArgs == null || extraArgs.length == 0) {
            return mapKind(0, function, items.toArray());
        }
        Object[] packed = new Object[items.size()];
        for (int i = 0; i < packed.length; i++) {
            Object[] t = new Object[1 + extraArgs.length];
            t[0] = items.get(i);
            System.arraycopy(extraArgs, 0, t, 1, extraArgs.length);
            packed[i] = Tuple.of(t);
        }
        return mapKind(1, "(" + function + ")(*x)", packed);
    }

    /** Evaluates the expression {@code expr} for every item bound to {@code x}, load-balanced; results in order. */
    public List<Object> mapExpr(String expr, List<?> items) {
        return mapKind(1, Objects.requireNonNull(expr, "expr"), items.toArray());
    }

    private List<Object> mapKind(int kind, String task, Object[] items) {
        return reading(() -> {
            if (engines.isEmpty()) {
                throw new IllegalStateException("the box is empty");
            }
            return new ArrayList<>(Arrays.asList(Native.boxMap(handle, kind, task, items, 0, out())));
        });
    }

    /**
     * Splits {@code items} into one contiguous part per engine (sizes differ by
     * at most one) and binds part {@code i} as a list to {@code name} on engine {@code i}.
     */
    public void scatter(String name, List<?> items) {
        reading(() -> {
            Native.boxScatter(handle, Objects.requireNonNull(name, "name"), items.toArray());
            return null;
        });
    }

    /** The lists bound to {@code name} on the engines, concatenated in box order (the inverse of scatter). */
    @SuppressWarnings("unchecked")
    public List<Object> gather(String name) {
        return reading(() -> (List<Object>) Native.boxGather(handle, Objects.requireNonNull(name, "name")));
    }

    /** Closes every engine of the box (those closed already are skipped) and the box. */
    @Override
    public void close() {
        List<PythonEngine> es = writing(() -> {
            closed.set(true);
            return new ArrayList<>(engines);
        });
        for (PythonEngine e : es) {
            if (!e.isClosed()) {
                try {
                    e.close();
                } catch (IllegalStateException ignored) {
                    // closed meanwhile
                }
            }
        }
        cleanable.clean();
    }

    @Override
    public String toString() {
        return "EngBox" + getEngines();
    }

    /**
     * A PythonEngine method name and arguments as one request: the
     * operation's wire name and its fields (as {@link PythonEngine#request}
     * takes them), or null.
     */
    private static final class OpCall {
        final String op;
        final Object[] fields;

        OpCall(String op, Object... fields) {
            this.op = op;
            this.fields = fields;
        }

        private static boolean str(Object o) {
            return o instanceof String;
        }

        private static String[] names(Object[] a, int from) {
            if (a.length == from + 1 && a[from] instanceof String[]) {
                return (String[]) a[from];
            }
            if (a.length == from + 1 && a[from] instanceof List) {
                a = ((List<?>) a[from]).toArray();
                from = 0;
            }
            String[] out = new String[a.length - from];
            for (int i = from; i < a.length; i++) {
                if (!(a[i] instanceof String)) {
                    return null;
                }
                out[i - from] = (String) a[i];
            }
            return out;
        }

        static OpCall of(String method, Object[] a) {
            int n = a.length;
            switch (method) {
                case "ping": return n == 0 ? new OpCall("ping") : null;
                case "whoami": return n == 0 ? new OpCall("whoami") : null;
                case "names": return n == 0 ? new OpCall("names") : null;
                case "clear": return n == 0 ? new OpCall("clear") : null;
                case "isBusy": return n == 0 ? new OpCall("is_busy") : null;
                case "interrupt": return n == 0 ? new OpCall("interrupt") : null;
                case "set":
                    if (n == 2 && str(a[0])) {
                        return new OpCall("set", "vars", Collections.singletonMap(a[0], a[1]));
                    }
                    return n == 1 && a[0] instanceof Map ? new OpCall("set", "vars", a[0]) : null;
                case "get":
                    if (n == 1 && str(a[0])) {
                        return new OpCall("get", "name", a[0]);
                    }
                    return n == 1 && a[0] instanceof List && names(a, 0) != null
                            ? new OpCall("get_many", "names", names(a, 0)) : null;
                case "delete": {
                    String[] ns = names(a, 0);
                    return ns == null ? null : new OpCall("delete", "names", ns);
                }
                case "imp": {
                    String[] ns = names(a, 0);
                    return ns == null ? null : new OpCall("import", "modules", ns);
                }
                case "eval": case "exec": case "exe": {
                    String op = method.equals("eval") ? "eval" : "exec";
                    String text = method.equals("eval") ? "expr" : "code";
                    if (n == 1 && str(a[0])) {
                        return new OpCall(op, text, a[0]);
                    }
                    return n == 2 && str(a[0]) && (a[1] == null || a[1] instanceof Map)
                            ? new OpCall(op, text, a[0], "vars", a[1]) : null;
                }
                case "vexec": case "vexe":
                    if (n == 3 && str(a[0]) && (a[1] == null || a[1] instanceof List) && (a[2] == null || a[2] instanceof Map)) {
                        String[] g = a[1] == null ? new String[0] : names(new Object[] {a[1]}, 0);
                        return g == null ? null : new OpCall("vexec", "code", a[0], "get", g, "vars", a[2]);
                    }
                    return null;
                case "call":
                    if (n >= 1 && str(a[0])) {
                        Object[] rest = n == 2 && a[1] instanceof Object[] ? (Object[]) a[1] : Arrays.copyOfRange(a, 1, n);
                        return new OpCall("call", "name", a[0], "args", rest);
                    }
                    return null;
                case "callKw":
                    return n == 3 && str(a[0]) && (a[1] == null || a[1] instanceof List) && (a[2] == null || a[2] instanceof Map)
                            ? new OpCall("call", "name", a[0], "args", a[1] == null ? new Object[0] : ((List<?>) a[1]).toArray(), "kwargs", a[2])
                            : null;
                case "describe":
                    return n == 1 && str(a[0]) ? new OpCall("describe", "name", a[0]) : null;
                case "install":
                    return n == 2 && str(a[0]) && str(a[1]) ? new OpCall("install", "name", a[0], "source", a[1]) : null;
                case "installPackage":
                    return n == 2 && str(a[0]) && a[1] instanceof byte[]
                            ? new OpCall("install", "name", a[0], "archive", a[1], "is_package", true) : null;
                default:
                    return null;
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    private static Object capture(Function<PythonEngine, Object> f, PythonEngine e) {
        try {
            return f.apply(e);
        } catch (RuntimeException ex) {
            return ex;
        }
    }

    private static Throwable unwrap(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    private static <T> T join(CompletableFuture<T> f) {
        try {
            return f.join();
        } catch (CompletionException e) {
            Throwable t = unwrap(e);
            throw t instanceof RuntimeException ? (RuntimeException) t : new SRPyException(t.toString(), t);
        }
    }

    /** A call of the public PythonEngine method named {@code method} taking {@code args}. */
    static Function<PythonEngine, Object> invoker(String method, Object[] args) {
        Objects.requireNonNull(method, "method");
        Object[] a = args == null ? new Object[0] : args;
        Method best = null;
        Object[] callArgs = null;
        for (Method m : PythonEngine.class.getMethods()) {
            if (!m.getName().equals(method) || Modifier.isStatic(m.getModifiers())
                    || m.getDeclaringClass() == Object.class) {
                continue;
            }
            Object[] fitted = fit(m, a);
            if (fitted != null && (best == null || (best.isVarArgs() && !m.isVarArgs()))) {
                best = m;
                callArgs = fitted;
            }
        }
        if (best == null) {
            throw new IllegalArgumentException("PythonEngine has no method " + method + " taking "
                    + a.length + " argument(s) of those types");
        }
        final Method m = best;
        final Object[] ca = callArgs;
        return e -> {
            try {
                return m.invoke(e, ca);
            } catch (InvocationTargetException ex) {
                Throwable t = ex.getCause();
                if (t instanceof RuntimeException) {
                    throw (RuntimeException) t;
                }
                if (t instanceof Error) {
                    throw (Error) t;
                }
                throw new SRPyException(String.valueOf(t), t);
            } catch (IllegalAccessException ex) {
                throw new IllegalStateException(ex);
            }
        };
    }

    private static Object[] fit(Method m, Object[] a) {
        Class<?>[] p = m.getParameterTypes();
        if (!m.isVarArgs()) {
            if (p.length != a.length) {
                return null;
            }
            for (int i = 0; i < p.length; i++) {
                if (!accepts(p[i], a[i])) {
                    return null;
                }
            }
            return a;
        }
        int fixed = p.length - 1;
        if (a.length < fixed) {
            return null;
        }
        for (int i = 0; i < fixed; i++) {
            if (!accepts(p[i], a[i])) {
                return null;
            }
        }
        Class<?> comp = p[fixed].getComponentType();
        if (a.length == p.length && a[fixed] != null && p[fixed].isInstance(a[fixed])) {
            return a;
        }
        Object rest = java.lang.reflect.Array.newInstance(comp, a.length - fixed);
        for (int i = fixed; i < a.length; i++) {
            if (!accepts(comp, a[i])) {
                return null;
            }
            java.lang.reflect.Array.set(rest, i - fixed, a[i]);
        }
        Object[] out = new Object[p.length];
        System.arraycopy(a, 0, out, 0, fixed);
        out[fixed] = rest;
        return out;
    }

    private static boolean accepts(Class<?> p, Object v) {
        if (v == null) {
            return !p.isPrimitive();
        }
        if (p.isPrimitive()) {
            if (p == int.class) {
                return v instanceof Integer || v instanceof Short || v instanceof Byte;
            }
            if (p == long.class) {
                return v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte;
            }
            if (p == double.class) {
                return v instanceof Number;
            }
            if (p == boolean.class) {
                return v instanceof Boolean;
            }
            return false;
        }
        return p.isInstance(v);
    }
}
