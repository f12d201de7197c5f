package org.srpy;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/** A remote function bound to an engine ({@link PythonEngine#function(String)}). */
public final class RemoteFunction {
    private final PythonEngine engine;
    private final String name;

    RemoteFunction(PythonEngine engine, String name) {
        this.engine = engine;
        this.name = name;
    }

    /** The dotted name called. */
    public String getName() {
        return name;
    }

    public PythonEngine getEngine() {
        return engine;
    }

    /** Calls with positional arguments. */
    public Object call(Object... args) {
        return engine.call(name, args);
    }

    /** Calls with positional and keyword arguments. */
    public Object callKw(List<?> args, Map<String, ?> kwargs) {
        return engine.callKw(name, args, kwargs);
    }

    public CompletableFuture<Object> callAsync(Object... args) {
        return engine.callAsync(name, args);
    }

    /** The remote description ({@code doc}, {@code signature}, {@code kind}, …). */
    public Map<String, Object> describe() {
        return engine.describe(name);
    }

    /** The remote docstring, or null. */
    public String getDoc() {
        Object d = describe().get("doc");
        return d == null ? null : d.toString();
    }

    @Override
    public String toString() {
        return "RemoteFunction(" + name + " on " + engine.getUri() + ")";
    }
}
