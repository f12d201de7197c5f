package org.srpy;

import java.util.function.BiConsumer;

/** The native methods (library {@code srpy_jvm}, wrapping the Rust client). */
final class Native {
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

    /** {@code tls}: {@link ConnectOptions#tls()} (CA file, pin, client certificate, key). */
    static native long connect(String uri, byte[] token, double connectTimeout, String[] tls,
            double defaultCallTimeout);

    static native void close(long handle);

    static native void free(long handle);

    static native Object info(long handle);

    static native boolean isConnected(long handle);

    /**
     * One request: the operation {@code op} (its wire name, docs/PROTOCOL.md
     * 10.4) with {@code fields}, alternating field names and values (null:
     * none), converted by the operation table of the Rust side;
     * {@code timeout}: seconds, NaN or &le; 0 for none; {@code out}: receives
     * remote output, or null to drop it. {@code benchmark} answers the
     * tuple (netSeconds, procSeconds, busy).
     */
    static native Object request(long handle, String op, Object[] fields, double timeout,
            BiConsumer<String, String> out);

    static native long localStart(int engines, String python, String serverBin, byte[] token, double startTimeout,
            String[] serverArgs);

    /** The pin of the server's TLS certificate from its uri file, or null without TLS. */
    static native String localTlsPin(long handle);

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
    static native long[] boxStartAndAppend(long box, String what, byte[] token, double connectTimeout, String[] tls,
            int kind);

    static native String engineUri(long engine);

    static native int[] boxSearch(long box, String name, String group, String ip, String hostname);

    static native int[] boxFastest(long box, boolean single, String basis);

    static native int[] boxDead(long box, boolean fresh);

    /** Per engine, in box order: its answer, or the exception object of its failure. */
    static native Object[] boxRun(long box, boolean parallel, String op, Object[] fields, double timeout,
            BiConsumer<String, String> out);

    /** kind 0: call the function named task on each item; 1: evaluate the expression task over x. */
    static native Object[] boxMap(long box, int kind, String task, Object[] items, int chunksize,
            BiConsumer<String, String> out);

    static native void boxScatter(long box, String name, Object[] items);

    static native Object boxGather(long box, String name);

    // ---- clusters (srpy_client::Cluster): a start answers a Long handle, or [message, [[host, reason]...]]

    static native Object clusterSsh(String[] hosts, String engines, String serverCommand, String[] sshCommand,
            String listenHost, String[] serverArgs, int minHosts, double startTimeout, byte[] token, boolean tunnel);

    static native Object clusterSlurm(int nodes, String enginesPerNode, String time, String partition,
            String[] sbatchArgs, String serverCommand, String listenHost, String[] serverArgs, double startTimeout,
            double queueTimeout, boolean progress);

    /** [[host, uri, token (byte[]), version, tlsPin or null], ...]. */
    static native Object clusterServers(long cluster);

    /** [[host, reason], ...] of the hosts that did not start, or (lost) were lost since. */
    static native Object clusterFailures(long cluster, boolean lost);

    static native String clusterSlurmJob(long cluster);

    /** Stops every server, waits for it, frees the handle. */
    static native void clusterFree(long cluster);
}
