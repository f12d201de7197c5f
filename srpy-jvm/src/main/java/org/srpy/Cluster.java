package org.srpy;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Servers started on other hosts, one per host, each with a fresh random
 * token, and {@link #getBox()}, an {@link EngBox} of all their engines (the
 * Rust client's {@code srpy_client::Cluster}; CPython's and Jython's
 * {@code srpy.Cluster}). {@link #close()} stops every server and waits for
 * it; so does the end of the JVM or of this process, however it ends (each
 * server stops when its launcher channel closes).
 *
 * <pre>{@code
 * try (Cluster c = Cluster.ssh(new Cluster.SshOptions(List.of("a", "b")).engines("auto"))) {
 *     List<Object> roots = c.getBox().map("math.sqrt", List.of(1, 4, 9));
 * }
 * }</pre>
 *
 * Servers use TLS with a certificate made at start, which the connections
 * pin (unless the connect options name a CA or a pin). Too few hosts
 * started: {@link ClusterException}, naming each failed host and why.
 */
public final class Cluster implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("org.srpy.Cluster");

    /** A host that did not start, or was lost, and why. */
    public static final class HostFailure {
        private final String host;
        private final String reason;

        public HostFailure(String host, String reason) {
            this.host = host;
            this.reason = reason;
        }

        public String getHost() {
            return host;
        }

        public String getReason() {
            return reason;
        }

        @Override
        public String toString() {
            return host + ": " + reason;
        }
    }

    /** How to start servers over the system's OpenSSH client (the fields of {@code srpy_client::SshOptions}). */
    public static final class SshOptions {
        private final List<String> hosts;
        private String engines = "auto";
        private String serverCommand;
        private List<String> sshCommand = Collections.emptyList();
        private String listenHost;
        private List<String> serverArgs = Collections.emptyList();
        private int minHosts;
        private Duration startTimeout = Duration.ofSeconds(60);
        private String token;
        private boolean tunnel;

        /** The hosts, as {@code ssh} takes them ({@code host}, {@code user@host}, an alias). */
        public SshOptions(List<String> hosts) {
            this.hosts = new ArrayList<>(hosts);
        }

        /** Engines per host: a number, or {@code "auto"} (one per CPU; the default). */
        public SshOptions engines(String engines) {
            this.engines = engines;
            return this;
        }

        /** The remote command that runs the server (default {@code python3 -m srpy.server}). */
        public SshOptions serverCommand(String command) {
            this.serverCommand = command;
            return this;
        }

        /** The ssh program and its options, e.g. {@code List.of("ssh", "-F", "config")} (default {@code ssh}). */
        public SshOptions sshCommand(List<String> command) {
            this.sshCommand = new ArrayList<>(command);
            return this;
        }

        /** The address the servers listen on (default: the one the ssh connection reached). */
        public SshOptions listenHost(String host) {
            this.listenHost = host;
            return this;
        }

        /** More {@code srpy-server} options. */
        public SshOptions serverArgs(List<String> args) {
            this.serverArgs = new ArrayList<>(args);
            return this;
        }

        /** Go on (with a warning) when at least this many hosts started (default: all). */
        public SshOptions minHosts(int n) {
            this.minHosts = n;
            return this;
        }

        public SshOptions startTimeout(Duration timeout) {
            this.startTimeout = timeout;
            return this;
        }

        /** Every server's token (default: a fresh random one per host). */
        public SshOptions token(String token) {
            this.token = token;
            return this;
        }

        /**
         * Reach each server through its ssh connection (a local port forwarded by the ssh master), the server
         * listening on its host's loopback: the host needs no inbound port but ssh (default: off).
         */
        public SshOptions tunnel(boolean tunnel) {
            this.tunnel = tunnel;
            return this;
        }
    }

    /** How to start servers with Slurm (the fields of {@code srpy_client::SlurmOptions}). */
    public static final class SlurmOptions {
        private int nodes;
        private String enginesPerNode = "auto";
        private String time;
        private String partition;
        private List<String> sbatchArgs = Collections.emptyList();
        private String serverCommand;
        private String listenHost;
        private List<String> serverArgs = Collections.emptyList();
        private Duration startTimeout = Duration.ofSeconds(60);
        private Duration queueTimeout;
        private boolean progress = true;

        /** Nodes, one server each (default: the allocation's, else 1). */
        public SlurmOptions nodes(int n) {
            this.nodes = n;
            return this;
        }

        public SlurmOptions enginesPerNode(String engines) {
            this.enginesPerNode = engines;
            return this;
        }

        /** The job's time limit ({@code sbatch --time}). */
        public SlurmOptions time(String time) {
            this.time = time;
            return this;
        }

        public SlurmOptions partition(String partition) {
            this.partition = partition;
            return this;
        }

        public SlurmOptions sbatchArgs(List<String> args) {
            this.sbatchArgs = new ArrayList<>(args);
            return this;
        }

        public SlurmOptions serverCommand(String command) {
            this.serverCommand = command;
            return this;
        }

        public SlurmOptions listenHost(String host) {
            this.listenHost = host;
            return this;
        }

        public SlurmOptions serverArgs(List<String> args) {
            this.serverArgs = new ArrayList<>(args);
            return this;
        }

        public SlurmOptions startTimeout(Duration timeout) {
            this.startTimeout = timeout;
            return this;
        }

        /** How long the submitted job may wait in the queue (default: no limit). */
        public SlurmOptions queueTimeout(Duration timeout) {
            this.queueTimeout = timeout;
            return this;
        }

        /** A progress line on stderr while the job is queued (default true). */
        public SlurmOptions progress(boolean progress) {
            this.progress = progress;
            return this;
        }
    }

    private long handle;
    private final EngBox box = new EngBox();

    private Cluster(Object started, ConnectOptions engineOptions) {
        if (!(started instanceof Long)) {
            List<?> e = (List<?>) started;
            throw new ClusterException((String) e.get(0), failures(e.get(1)));
        }
        this.handle = (Long) started;
        warn("did not start", getFailures());
        try {
            for (Object r : servers()) {
                List<?> row = (List<?>) r;
                ConnectOptions o = engineOptions.token(new String((byte[]) row.get(2), StandardCharsets.UTF_8));
                String pin = (String) row.get(4);
                if (pin != null && o.getTlsCa() == null && o.getTlsPin() == null) {
                    o = o.tlsPin(pin);
                }
                box.startAndAppend((String) row.get(1), o);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Starts one server per host over ssh, then connects to all their engines. */
    public static Cluster ssh(SshOptions o) {
        return ssh(o, new ConnectOptions());
    }

    /** {@link #ssh(SshOptions)}, connecting with {@code engineOptions} (the token comes from each server). */
    public static Cluster ssh(SshOptions o, ConnectOptions engineOptions) {
        Native.ensureLoaded();
        return new Cluster(Native.clusterSsh(o.hosts.toArray(new String[0]), o.engines, o.serverCommand,
                o.sshCommand.toArray(new String[0]), o.listenHost, o.serverArgs.toArray(new String[0]), o.minHosts,
                seconds(o.startTimeout), o.token == null ? null : o.token.getBytes(StandardCharsets.UTF_8),
                o.tunnel), engineOptions);
    }

    /** Starts one server per node with Slurm ({@code srun} inside an allocation, else {@code sbatch}). */
    public static Cluster slurm(SlurmOptions o) {
        return slurm(o, new ConnectOptions());
    }

    public static Cluster slurm(SlurmOptions o, ConnectOptions engineOptions) {
        Native.ensureLoaded();
        return new Cluster(Native.clusterSlurm(o.nodes, o.enginesPerNode, o.time, o.partition,
                o.sbatchArgs.toArray(new String[0]), o.serverCommand, o.listenHost, o.serverArgs.toArray(new String[0]),
                seconds(o.startTimeout), seconds(o.queueTimeout), o.progress), engineOptions);
    }

    private static double seconds(Duration d) {
        return d == null ? Double.NaN : d.toMillis() / 1000.0;
    }

    private static List<HostFailure> failures(Object rows) {
        List<HostFailure> out = new ArrayList<>();
        for (Object r : (List<?>) rows) {
            List<?> row = (List<?>) r;
            out.add(new HostFailure((String) row.get(0), (String) row.get(1)));
        }
        return out;
    }

    private static void warn(String what, List<HostFailure> failures) {
        if (!failures.isEmpty()) {
            LOG.log(System.Logger.Level.WARNING, failures.size() + " host(s) " + what + ": " + failures);
        }
    }

    private synchronized long h() {
        if (handle == 0) {
            throw new IllegalStateException("the cluster is closed");
        }
        return handle;
    }

    private List<?> servers() {
        return (List<?>) Native.clusterServers(h());
    }

    private List<String> column(int i) {
        List<String> out = new ArrayList<>();
        for (Object r : servers()) {
            out.add((String) ((List<?>) r).get(i));
        }
        return out;
    }

    /** The box of every engine of every server. */
    public EngBox getBox() {
        return box;
    }

    /** The hosts whose server started. */
    public List<String> getHosts() {
        return column(0);
    }

    /** The servers' addresses, in host order. */
    public List<String> getUris() {
        return column(1);
    }

    /** The servers' tokens, in host order (whoever has one can run any code on that host). */
    public List<String> getTokens() {
        List<String> out = new ArrayList<>();
        for (Object r : servers()) {
            out.add(new String((byte[]) ((List<?>) r).get(2), StandardCharsets.UTF_8));
        }
        return out;
    }

    /** The hosts that did not start, with the reasons. */
    public List<HostFailure> getFailures() {
        return failures(Native.clusterFailures(h(), false));
    }

    /** The hosts lost since they started, with what they said last. */
    public List<HostFailure> getLostHosts() {
        return failures(Native.clusterFailures(h(), true));
    }

    /** The Slurm job the cluster submitted (null inside an allocation, or over ssh). */
    public String getSlurmJob() {
        return Native.clusterSlurmJob(h());
    }

    /** Closes the engines, warns about lost hosts, stops every server and waits for it. Idempotent. */
    @Override
    public void close() {
        long hh;
        synchronized (this) {
            if (handle == 0) {
                return;
            }
            hh = handle;
        }
        try {
            box.close();
        } catch (IllegalStateException closedAlready) {
            // the caller closed the box
        }
        warn("were lost", getLostHosts());
        synchronized (this) {
            handle = 0;
        }
        Native.clusterFree(hh);
    }
}
