package org.srpy;

import java.util.function.BiConsumer;

/** The native methods (library {@code srpy_jvm}, wrapping the Rust client). */
final class Native {
    // Operation codes of request(); keep in step with srpy-jvm/src/lib.rs.
    static final int PING = 0;
    static final int WHOAMI = 1;
    static final int SET = 2;
    static final int GET = 3;
    static final int GET_MANY = 4;
    static final int NAMES = 5;
    static final int DELETE = 6;
    static final int CLEAR = 7;
    static final int EVAL = 8;
    static final int EXEC = 9;
    static final int VEXEC = 10;
    static final int CALL = 11;
    static final int DESCRIBE = 12;
    static final int INSTALL_SOURCE = 13;
    static final int INSTALL_ARCHIVE = 14;
    static final int IMPORT = 15;
    static final int IS_BUSY = 16;
    static final int WAIT = 17;
    static final int INTERRUPT = 18;

    static {
        NativeLoader.load();
        init();
    }

    private Native() {
    }

    /** Forces loading; the static initializer does the work. */
    static void ensureLoaded() {
    }

    private static native void init();

    static native String version();

    static native long connect(String uri, byte[] token, double connectTimeout, double defaultCallTimeout);

    static native void close(long handle);

    static native void free(long handle);

    static native Object info(long handle);

    static native boolean isConnected(long handle);

    /**
     * One request. {@code s}, {@code a}, {@code b}: the op's arguments;
     * {@code timeout}: seconds, NaN or &le; 0 for none ({@code WAIT}: the
     * wait's own limit); {@code out}: receives remote output, or null to drop
     * it.
     */
    static native Object request(long handle, int op, String s, Object a, Object b, double timeout,
            BiConsumer<String, String> out);

    /** [netSeconds, procSeconds, busy ? 1 : 0]. */
    static native double[] benchmark(long handle, long cycles);

    static native long localStart(int engines, String python, String serverBin, byte[] token, double startTimeout);

    static native String localUri(long handle);

    static native byte[] localToken(long handle);

    static native long localPid(long handle);

    static native boolean localRunning(long handle);

    static native String localLog(long handle);

    static native void localStop(long handle);

    static native void localFree(long handle);

    /** Throws what an error of the given kind maps to (tests). */
    static native void testThrow(String kind);

    /** Nanoseconds of n evaluations by the Rust client itself (benchmark baseline). */
    static native long[] benchRustEval(long handle, String expr, int n);

    /** The Rust client's own set/get of size bytes: [set seconds × reps, get seconds × reps]. */
    static native double[] benchRustBytes(long handle, int size, int reps);

    // ---- boxes (srpy_client::EngBox)

    static native long boxNew();

    static native void boxFree(long box);

    static native void boxAppend(long box, long engine);

    static native void boxRemove(long box, int index);

    /** kind 0: one URI (a server URI stands for all its engines), 1: a text of URIs, 2: a file of URIs. */
    static native long[] boxStartAndAppend(long box, String what, byte[] token, int kind);

    static native String engineUri(long engine);

    static native int[] boxSearch(long box, String name, String group, String ip, String hostname);

    static native int[] boxFastest(long box, boolean single, String basis);

    static native int[] boxDead(long box, boolean fresh);

    /** Per engine, in box order: its answer, or the exception object of its failure. */
    static native Object[] boxRun(long box, boolean parallel, int op, String s, Object a, Object b, double timeout,
            BiConsumer<String, String> out);

    /** kind 0: call the function named task on each item; 1: evaluate the expression task over x. */
    static native Object[] boxMap(long box, int kind, String task, Object[] items, int chunksize,
            BiConsumer<String, String> out);

    static native void boxScatter(long box, String name, Object[] items);

    static native Object boxGather(long box, String name);
}
